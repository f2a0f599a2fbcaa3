"""Serving: scripts/load_postgres.py against a real PostgreSQL server (conftest fixtures).

Every test gets an empty database on a throw-away server; the loader runs as users run it,
as a separate process, so exit codes and messages are what a user sees.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import PROJECT_DIR, query, run_command, script_module

LOADER = PROJECT_DIR / "scripts" / "load_postgres.py"
EXPORT_SCRIPT = PROJECT_DIR / "scripts" / "export.py"
LIVE_DIGEST_SQL = """
    select
        count(*),
        md5(coalesce(string_agg(
            product_id || ':' || recommendation_rank || ':' || recommended_product_id,
            ',' order by product_id, recommendation_rank
        ), ''))
    from product_recommendations
"""


# What export.py writes for a database whose recorded build passed (recommender_io.verdict).
PASSED_BUILD = {
    "invocation_id": "00000000-0000-4000-8000-000000000001",
    "started_at": "2026-01-01 00:00:00",
    "command": "build",
    "finished": True,
    "nodes_checked": 55,
    "failed": [],
    "passed": True,
}


def write_export(
    folder: Path,
    data: dict[str, Any],
    fmt: str = "tutorial",
    stamp: str = "2026-01-01_00-00",
    raw: bytes | None = None,
    point_latest: bool = True,
    **manifest_overrides: Any,
) -> Path:
    """An export as scripts/export.py writes it: JSON, manifest and latest.json.
    `raw` replaces the JSON bytes (the manifest's checksum is still of `raw`)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = raw if raw is not None else json.dumps(data, indent=4, ensure_ascii=False).encode()
    sha = hashlib.sha256(raw).hexdigest()
    name = f"recommendations_{stamp}.json"
    manifest_name = f"recommendations_{stamp}.manifest.json"
    rows = sum(len(v.split(";")) if isinstance(v, str) else len(v) for v in data.values())
    manifest = {
        "created_at": "2026-01-01T00:00:00Z",
        "export_key": name,
        "format": fmt,
        "source_duckdb": "test.duckdb",
        "row_count": rows,
        "product_count": len(data),
        "vars": {"top_k": 5},
        "validation": {},
        "sha256": sha,
        "bytes": len(raw),
        "project_version": "0.1.0",
        "build": PASSED_BUILD,
        "allowed_failed_validation": False,
        **manifest_overrides,
    }
    (folder / name).write_bytes(raw)
    (folder / manifest_name).write_text(json.dumps(manifest, indent=4))
    if point_latest:
        latest = {
            "export_key": name,
            "manifest_key": manifest_name,
            "sha256": sha,
            "created_at": manifest["created_at"],
        }
        (folder / "latest.json").write_text(json.dumps(latest))
    return folder / name


def run_loader(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, str(LOADER), *args],
        env=env,
        timeout=300,
    )


def load_ok(source: Path | str, dsn: str, *extra: str) -> str:
    """A load that must succeed, run in-process (faster; failures run the real CLI)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = script_module("load_postgres").main(["--source", str(source), "--dsn", dsn, *extra])
    assert code == 0, err.getvalue()
    return out.getvalue()


def live_state(dsn: str) -> tuple[Any, ...]:
    """Everything a failed load must leave alone: the live rows and the export bookkeeping."""
    with psycopg.connect(dsn) as con:
        digest = con.execute(LIVE_DIGEST_SQL).fetchone()
        exports = con.execute(
            "select export_id, sha256, status, loaded_at from recommendation_exports order by 1"
        ).fetchall()
        tables = con.execute(
            "select relname from pg_class where relname like 'product_recommendations%' order by 1"
        ).fetchall()
    return digest, exports, tables


def synthetic(products: int, shift: int, recs: int = 5) -> dict[str, str]:
    """Tutorial-format data: product p recommends p+shift, p+shift+1, ... (mod products)."""
    ids = [f"p{n:06d}" for n in range(products)]
    return {
        ids[n]: ";".join(ids[(n + shift + k) % products] for k in range(recs))
        for n in range(products)
    }


SMALL_A = {"a": "b;c", "b": "a;c", "c": "a"}
SMALL_B = {"a": "c", "b": "c;a", "c": "b;a", "d": "a"}


# --- round trip ------------------------------------------------------------------------------


def export_sample(
    sample_build: Path, dest: Path | str, fmt: str, env: dict[str, str] | None = None
) -> None:
    """The sample mart exported by the real scripts/export.py."""
    result = run_command(
        [
            sys.executable,
            str(EXPORT_SCRIPT),
            "--duckdb",
            str(sample_build),
            "--dest",
            str(dest),
            "--format",
            fmt,
        ],
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fmt", ["rich", "tutorial"])
def test_round_trip_equals_the_mart(
    sample_build: Path, tmp_path: Path, postgres_dsn: str, fmt: str
) -> None:
    export_sample(sample_build, tmp_path / "exports", fmt)
    load_ok(tmp_path / "exports", postgres_dsn)

    columns = "product_id, recommendation_rank, recommended_product_id"
    if fmt == "rich":
        columns += ", similarity, pair_count, product_category, recommended_category"
    mart = query(sample_build, f"select {columns} from product_recommendations order by 1, 2")
    with psycopg.connect(postgres_dsn) as con:
        served = con.execute(f"select {columns} from product_recommendations order by 1, 2")
        served_rows = served.fetchall()
        live = con.execute(
            "select format, row_count from recommendation_exports where is_live"
        ).fetchall()
    assert len(mart) > 100
    assert len(served_rows) == len(mart)
    for mart_row, served_row in zip(mart, served_rows, strict=True):
        if fmt == "rich":
            assert served_row[3] == pytest.approx(mart_row[3], abs=1e-6)
            mart_row = mart_row[:3] + mart_row[4:]
            served_row = served_row[:3] + served_row[4:]
        assert tuple(served_row) == tuple(mart_row)
    assert live == [(fmt, len(mart))]


# --- atomicity ------------------------------------------------------------------------------


def test_concurrent_readers_never_see_an_empty_or_mixed_table(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Two readers run while a load replaces the live export: one checksums the whole table,
    one runs the serving query for random products, as a web backend would."""
    products = 30_000
    old_data, new_data = synthetic(products, shift=1), synthetic(products, shift=7, recs=4)
    first = write_export(tmp_path / "a", old_data, stamp="2026-01-01_00-00")
    second = write_export(tmp_path / "b", new_data)
    load_ok(first.parent, postgres_dsn)
    before = live_state(postgres_dsn)[0]

    seen: list[tuple[float, tuple[int, str]]] = []
    lookups: list[tuple[str, str]] = []  # (product, "rec1;rec2;...") as served
    errors: list[BaseException] = []
    stop = threading.Event()

    def table_reader() -> None:
        try:
            with psycopg.connect(postgres_dsn, autocommit=True) as con:
                while not stop.is_set():
                    count, digest = con.execute(LIVE_DIGEST_SQL).fetchone()  # type: ignore[misc]
                    seen.append((time.monotonic(), (count, digest)))
        except psycopg.Error as exc:
            errors.append(exc)

    def product_reader() -> None:
        ids = sorted(old_data)
        serving = (
            "select recommended_product_id from product_recommendations "
            "where product_id = %s order by recommendation_rank"
        )
        try:
            with psycopg.connect(postgres_dsn, autocommit=True) as con:
                for n in itertools.count():
                    if stop.is_set():
                        break
                    product = ids[(n * 7919) % len(ids)]
                    rows = con.execute(serving, [product]).fetchall()
                    lookups.append((product, ";".join(row[0] for row in rows)))
        except psycopg.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=table_reader), threading.Thread(target=product_reader)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        loader = run_command(
            [sys.executable, str(LOADER), "--source", str(second.parent), "--dsn", postgres_dsn],
        )
        finished = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert loader.returncode == 0, loader.stderr
    after = live_state(postgres_dsn)[0]

    assert not errors, f"a reader failed during the load: {errors[0]}"
    assert before != after and before[0] == products * 5 and after[0] == products * 4
    results = [result for _, result in seen]
    assert set(results) <= {before, after}, "a reader saw a table that is neither export"
    during = [result for at, result in seen if started <= at <= finished]
    assert len(during) >= 3, "the reader did not overlap the load; make the export bigger"
    # Readers see the old export until the swap, then the new one, never back again.
    switch = results.index(after)
    assert results[:switch] == [before] * switch and results[switch:] == [after] * (
        len(results) - switch
    )
    # Every lookup got that product's full list from one export, the old then the new.
    assert len(lookups) > 100
    versions = [
        0 if served == old_data[product] else 1 if served == new_data[product] else None
        for product, served in lookups
    ]
    assert None not in versions, "a lookup got an empty or mixed list"
    assert versions == sorted(versions) and versions[0] == 0 and versions[-1] == 1


def test_transactions_spanning_a_swap_see_what_the_readme_says(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """READ COMMITTED (the default) sees the old export, then the new one. A REPEATABLE READ
    snapshot older than the swap sees the new table empty: the documented caveat."""
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn)
    count = "select count(*) from product_recommendations"
    with (
        psycopg.connect(postgres_dsn) as committed,
        psycopg.connect(postgres_dsn) as repeatable,
    ):
        repeatable.execute("set transaction isolation level repeatable read")
        assert committed.execute(count).fetchone() == (5,)
        assert repeatable.execute("select count(*) from recommendation_exports").fetchone()
        committed.commit()  # release its lock on the table; a new transaction starts below
        assert committed.execute("select 1").fetchone()
        result = run_loader(
            "--source", str(write_export(tmp_path / "b", SMALL_B).parent), "--dsn", postgres_dsn
        )
        assert result.returncode == 0, result.stderr
        assert committed.execute(count).fetchone() == (6,)
        assert repeatable.execute(count).fetchone() == (0,)
        repeatable.rollback()
        assert repeatable.execute(count).fetchone() == (6,)


# --- failures leave the live table untouched --------------------------------------------------


def corrupt_bytes() -> bytes:
    raw = json.dumps(SMALL_B, indent=4).encode()
    return raw[:20] + b"\x00garbage{" + raw[20:]


def truncated_bytes() -> bytes:
    raw = json.dumps(SMALL_B, indent=4).encode()
    return raw[: len(raw) // 2]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("corrupt", "is not valid JSON"),
        ("truncated", "is not valid JSON"),
        ("checksum", "checksum mismatch"),
        ("self_recommendation", "recommends the product itself"),
        ("separator_in_id", "contains ';'"),
        ("duplicate_recommendation", "recommends the same product twice"),
        ("duplicate_product", "appears twice"),
        ("empty_id", "is empty"),
        ("bad_rank", "ranks must be 1..n"),
        ("row_count", "its manifest says row_count"),
        ("created_at", "is not an ISO 8601 time"),
        ("empty_export", "has no products"),
        ("missing_export", "does not exist"),
    ],
)
def test_a_bad_export_leaves_the_live_table_untouched(
    tmp_path: Path, postgres_dsn: str, case: str, expected: str
) -> None:
    good = write_export(tmp_path / "good", SMALL_A)
    load_ok(good.parent, postgres_dsn)
    before = live_state(postgres_dsn)
    bad = tmp_path / "bad"
    rich_b = {
        "a": [
            {
                "rank": 2,
                "product_id": "b",
                "similarity": 0.5,
                "pair_count": 1,
                "product_category": "x",
                "recommended_category": "x",
            }
        ]
    }
    if case == "corrupt":
        write_export(bad, SMALL_B, raw=corrupt_bytes())
    elif case == "truncated":
        write_export(bad, SMALL_B, raw=truncated_bytes())
    elif case == "checksum":
        path = write_export(bad, SMALL_B)
        path.write_bytes(path.read_bytes().replace(b'"a"', b'"z"'))
    elif case == "self_recommendation":
        write_export(bad, {**SMALL_B, "d": "a;d"})
    elif case == "separator_in_id":
        write_export(bad, {**SMALL_B, "d;e": "a"})
    elif case == "duplicate_recommendation":
        write_export(bad, {**SMALL_B, "d": "a;b;a"})
    elif case == "duplicate_product":
        raw = b'{"a": "b", "b": "a", "a": "c"}'
        write_export(bad, {"a": "b", "b": "a"}, raw=raw)
    elif case == "empty_id":
        write_export(bad, {**SMALL_B, "d": "a;;b"})
    elif case == "bad_rank":
        write_export(bad, rich_b, fmt="rich")
    elif case == "row_count":
        write_export(bad, SMALL_B, row_count=99)
    elif case == "created_at":
        write_export(bad, SMALL_B, created_at="yesterday")
    elif case == "empty_export":
        write_export(bad, {})
    elif case == "missing_export":
        write_export(bad, SMALL_B).unlink()

    result = run_loader("--source", str(bad), "--dsn", postgres_dsn)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert live_state(postgres_dsn) == before


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    good = write_export(tmp_path / "good", SMALL_A)
    dsn = f"postgresql://loader:s3cr3t-pw@127.0.0.1:{closed_port()}/recommender"
    result = run_loader("--source", str(good.parent), "--dsn", dsn, "--connect-timeout", "3")
    assert result.returncode != 0
    assert "cannot connect to PostgreSQL at loader@127.0.0.1" in result.stderr
    assert "Check that the server is running" in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_the_password_is_never_printed(tmp_path: Path, postgres_dsn: str) -> None:
    # The test server trusts local connections, so any password is accepted, and ignored.
    dsn = postgres_dsn.replace("postgres@", "postgres:s3cr3t-pw@")
    good = write_export(tmp_path / "good", SMALL_A)
    for args in (
        ["--source", str(good.parent)],
        ["--source", str(good.parent)],
        ["--rollback"],
        ["--source", str(tmp_path / "missing")],
    ):
        result = run_loader(*args, "--dsn", dsn)
        assert "s3cr3t-pw" not in result.stdout + result.stderr


def test_a_swap_blocked_by_a_long_reader_times_out_and_changes_nothing(
    tmp_path: Path, postgres_dsn: str
) -> None:
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn)
    before = live_state(postgres_dsn)
    with psycopg.connect(postgres_dsn) as reader:
        reader.execute("select count(*) from product_recommendations").fetchall()  # holds a lock
        result = run_loader(
            "--source",
            str(write_export(tmp_path / "b", SMALL_B).parent),
            "--dsn",
            postgres_dsn,
            "--lock-timeout",
            "0.5",
        )
        reader.rollback()
    assert result.returncode != 0
    assert "lock timeout" in result.stderr and "--lock-timeout" in result.stderr
    assert live_state(postgres_dsn) == before


def test_two_loaders_never_run_at_once(tmp_path: Path, postgres_dsn: str) -> None:
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn)
    before = live_state(postgres_dsn)
    key = script_module("load_postgres").lock_key("public")
    with psycopg.connect(postgres_dsn) as other_loader:
        other_loader.execute("select pg_advisory_xact_lock(%s)", [key])  # as a loader holds it
        folder = write_export(tmp_path / "b", SMALL_B).parent
        result = run_loader("--source", str(folder), "--dsn", postgres_dsn)
        rollback = run_loader("--rollback", "--dsn", postgres_dsn)
    for refused in (result, rollback):
        assert refused.returncode != 0
        assert "another load_postgres is loading into schema public" in refused.stderr
    assert live_state(postgres_dsn) == before


def test_a_table_the_loader_did_not_make_is_left_alone(tmp_path: Path, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as con:
        con.execute("create table product_recommendations (hand_made text)")
    result = run_loader(
        "--source", str(write_export(tmp_path, SMALL_A).parent), "--dsn", postgres_dsn
    )
    assert result.returncode != 0
    assert "not made by this loader" in result.stderr
    with psycopg.connect(postgres_dsn) as con:
        columns = con.execute(
            "select column_name from information_schema.columns "
            "where table_name = 'product_recommendations'"
        ).fetchall()
    assert columns == [("hand_made",)]


def test_a_live_table_dropped_by_hand_is_reported(tmp_path: Path, postgres_dsn: str) -> None:
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn)
    with psycopg.connect(postgres_dsn) as con:
        con.execute("drop table product_recommendations")
    folder = write_export(tmp_path / "b", SMALL_B).parent
    result = run_loader("--source", str(folder), "--dsn", postgres_dsn)
    assert result.returncode != 0 and "is missing (dropped by hand?)" in result.stderr
    with psycopg.connect(postgres_dsn) as con:
        con.execute(
            "update recommendation_exports set status = 'dropped' where status <> 'dropped'"
        )
    assert "loaded" in load_ok(folder, postgres_dsn)


# --- idempotence, rollback, grants, schema --------------------------------------------------


def test_loading_the_same_export_twice_is_a_no_op(tmp_path: Path, postgres_dsn: str) -> None:
    folder = write_export(tmp_path, SMALL_A).parent
    assert "loaded" in load_ok(folder, postgres_dsn)
    before = live_state(postgres_dsn)
    again = load_ok(folder, postgres_dsn)
    assert "already live" in again and "nothing to do" in again
    assert live_state(postgres_dsn) == before
    # By explicit name too.
    explicit = load_ok(folder, postgres_dsn, "--export", "recommendations_2026-01-01_00-00.json")
    assert "already live" in explicit
    with psycopg.connect(postgres_dsn) as con:
        recorded = con.execute(
            "select export_key, row_count, product_count, format, is_live,"
            " exported_at = '2026-01-01T00:00:00Z', manifest ->> 'project_version'"
            " from recommendation_exports"
        ).fetchall()
    assert recorded == [
        ("recommendations_2026-01-01_00-00.json", 5, 3, "tutorial", True, True, "0.1.0")
    ]


def test_rollback_makes_the_previous_export_live_again(tmp_path: Path, postgres_dsn: str) -> None:
    rich = {
        "a": [
            {
                "rank": 1,
                "product_id": "b",
                "similarity": 0.75,
                "pair_count": 3,
                "product_category": "dairy",
                "recommended_category": None,
            }
        ]
    }
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn)
    only_one = run_loader("--rollback", "--dsn", postgres_dsn)
    assert only_one.returncode != 0 and "nothing to roll back to" in only_one.stderr
    state_a = live_state(postgres_dsn)[0]
    load_ok(write_export(tmp_path / "b", rich, fmt="rich").parent, postgres_dsn)
    state_b = live_state(postgres_dsn)[0]
    assert state_b != state_a

    result = run_loader("--rollback", "--dsn", postgres_dsn)
    assert result.returncode == 0, result.stderr
    assert live_state(postgres_dsn)[0] == state_a
    with psycopg.connect(postgres_dsn) as con:
        statuses = con.execute(
            "select format, status, is_live from recommendation_exports order by export_id"
        ).fetchall()
    assert statuses == [("tutorial", "live", True), ("rich", "previous", False)]

    # Rolling back again undoes the rollback; a new load then drops the oldest.
    assert run_loader("--rollback", "--dsn", postgres_dsn).returncode == 0
    assert live_state(postgres_dsn)[0] == state_b
    load_ok(write_export(tmp_path / "c", SMALL_B).parent, postgres_dsn)
    with psycopg.connect(postgres_dsn) as con:
        statuses = con.execute(
            "select status from recommendation_exports order by export_id"
        ).fetchall()
        previous = con.execute("select similarity from product_recommendations_previous")
        assert previous.fetchall() == [(0.75,)]
    assert statuses == [("dropped",), ("previous",), ("live",)]


def test_grants_survive_the_swap_and_the_schema_is_configurable(
    tmp_path: Path, postgres_dsn: str
) -> None:
    schema_args = ("--schema", "serving")
    load_ok(write_export(tmp_path / "a", SMALL_A).parent, postgres_dsn, *schema_args)
    role = f"frontend_{tmp_path.name[-8:].replace('-', '_')}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"create role {role}")
        con.execute(f"grant usage on schema serving to {role}")
        con.execute(f"grant select on serving.product_recommendations to {role}")
    load_ok(write_export(tmp_path / "b", SMALL_B).parent, postgres_dsn, *schema_args)
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"set role {role}")
        rows = con.execute(
            "select recommended_product_id from serving.product_recommendations "
            "where product_id = %s order by recommendation_rank",
            ["c"],
        ).fetchall()
        con.execute("reset role")
        public = con.execute("select to_regclass('public.product_recommendations')").fetchone()
        con.execute(f"drop owned by {role}")
        con.execute(f"drop role {role}")
    assert rows == [("b",), ("a",)]
    assert public == (None,)


def test_a_loader_role_needs_only_its_own_schema(tmp_path: Path, postgres_dsn: str) -> None:
    """No superuser and no CREATE on the database: a role owning the schema is enough."""
    role = f"loader_{tmp_path.name[-8:].replace('-', '_')}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"create role {role} login")
        con.execute(f"revoke create on database {con.info.dbname} from public")
        con.execute(f"create schema serving authorization {role}")
    loader_dsn = postgres_dsn.replace("postgres@", f"{role}@")
    try:
        for folder, data in (("a", SMALL_A), ("b", SMALL_B)):
            load_ok(write_export(tmp_path / folder, data).parent, loader_dsn, "--schema", "serving")
        result = run_loader("--rollback", "--dsn", loader_dsn, "--schema", "serving")
        assert result.returncode == 0, result.stderr
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as con:
            con.execute("drop schema serving cascade")
            con.execute(f"drop role {role}")


# --- S3 source and the validation rules -------------------------------------------------------


def test_load_from_s3_what_export_py_wrote(
    sample_build: Path, s3_server: str, postgres_dsn: str
) -> None:
    from conftest import S3_TEST_CREDENTIALS, s3_client

    s3_client(s3_server).create_bucket(Bucket="serving-test")
    env = {**os.environ, **S3_TEST_CREDENTIALS, "AWS_ENDPOINT_URL": s3_server}
    source = "s3://serving-test/recs/"
    export_sample(sample_build, source, "rich", env=env)
    result = run_loader("--source", source, "--dsn", postgres_dsn, env=env)
    assert result.returncode == 0, result.stderr
    assert "loaded s3://serving-test/recs/recommendations_" in result.stdout
    (mart_rows,) = query(sample_build, "select count(*) from product_recommendations")[0]
    with psycopg.connect(postgres_dsn) as con:
        served = con.execute("select count(*), max(source) from recommendation_exports").fetchone()
        rows = con.execute("select count(*) from product_recommendations").fetchone()
    assert rows == (mart_rows,)
    assert served is not None and served[1].startswith(source)

    missing = run_loader("--source", "s3://serving-test/nowhere/", "--dsn", postgres_dsn, env=env)
    assert missing.returncode != 0
    assert "s3://serving-test/nowhere/latest.json does not exist" in missing.stderr
    no_bucket = run_loader("--source", "s3://no-such-bucket/", "--dsn", postgres_dsn, env=env)
    assert no_bucket.returncode != 0 and "bucket no-such-bucket does not exist" in no_bucket.stderr


def test_serve_demo_shows_the_whole_chain(sample_build: Path) -> None:
    """`make serve-demo` minus its dbt build: export to moto S3, load, query one product."""
    result = run_command(
        [
            sys.executable,
            str(PROJECT_DIR / "scripts" / "serve_demo.py"),
            "--duckdb",
            str(sample_build),
            "--product",
            "00001",
        ],
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "loaded s3://demo/recommendations/recommendations_" in out
    assert "again: already live" in out
    (expected,) = query(
        sample_build,
        "select string_agg(recommended_product_id, ' ' order by recommendation_rank) "
        "from product_recommendations where product_id = '00001'",
    )[0]
    shown = [line.split()[1] for line in out.splitlines() if re.match(r"\s+\d\. ", line)]
    assert " ".join(shown) == expected
    assert "stopped PostgreSQL and the S3 server" in out


def test_serving_latency_reports_percentiles(tmp_path: Path, postgres_dsn: str) -> None:
    load_ok(write_export(tmp_path, synthetic(50, shift=1)).parent, postgres_dsn)
    result = run_command(
        [
            sys.executable,
            str(PROJECT_DIR / "scripts" / "serving_latency.py"),
            "--dsn",
            postgres_dsn,
            "--queries",
            "300",
        ],
    )
    assert result.returncode == 0, result.stderr
    assert re.match(r"300 lookups .*\(50 products, 250 rows\): p50 [\d.]+ ms", result.stdout)
    assert "p99" in result.stdout


def test_validation_reports_every_problem_with_its_product() -> None:
    from recommender_io.export_format import rows_from_export

    data = {"a": "b;a", "b": "c;c", " c": "a", "d": "", "e": 5}
    rows, problems = rows_from_export(data, "tutorial", top_k=5)
    assert rows == []
    text = "\n".join(problems)
    assert "product 'a': rank 2 recommends the product itself" in text
    assert "product 'b': recommends the same product twice" in text
    assert "leading or trailing whitespace" in text
    assert "product 'd': rank 1: the recommended id is empty" in text
    assert "product 'e': value is int" in text
    rows, problems = rows_from_export({"a": "b;c;d"}, "tutorial", top_k=2)
    assert "more than top_k=2" in problems[0]
