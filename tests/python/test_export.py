"""scripts/export.py against real things: dbt-built DuckDB files and moto S3 server processes.

Every export runs the script as users do (a subprocess), with the endpoint and test
credentials passed in its environment only.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from conftest import (
    PROJECT_DIR,
    S3_TEST_CREDENTIALS,
    build,
    moto_server,
    query,
    run_command,
    run_dbt,
    s3_client,
)
from sklearn.metrics.pairwise import cosine_similarity

EXPORT = PROJECT_DIR / "scripts" / "export.py"
STAMP = "2030-01-02_03-04"
LATER = "2030-01-02_03-05"

# Hand-made sales lines for the byte-for-byte test: 7 products (unicode and leading zeros
# in the ids, one line repeated so a quantity is 2) whose top 5 are all above 0 and free
# of ties, so the tutorial's unstable sort and our tie-break cannot disagree.
TINY_SALES = [
    ("o01", "ßeta", "drinks"),
    ("o01", "café", "drinks"),
    ("o01", "zeta", "bakery"),
    ("o02", "042", "dairy"),
    ("o02", "Ωmega", "dairy"),
    ("o03", "10", "bakery"),
    ("o03", "007", "dairy"),
    ("o03", "zeta", "bakery"),
    ("o04", "007", "dairy"),
    ("o04", "10", "bakery"),
    ("o04", "zeta", "bakery"),
    ("o05", "10", "bakery"),
    ("o05", "zeta", "bakery"),
    ("o05", "042", "dairy"),
    ("o05", "café", "drinks"),
    ("o06", "zeta", "bakery"),
    ("o06", "10", "bakery"),
    ("o06", "café", "drinks"),
    ("o07", "042", "dairy"),
    ("o07", "Ωmega", "dairy"),
    ("o07", "10", "bakery"),
    ("o08", "Ωmega", "dairy"),
    ("o08", "007", "dairy"),
    ("o08", "ßeta", "drinks"),
    ("o09", "café", "drinks"),
    ("o09", "ßeta", "drinks"),
    ("o01", "ßeta", "drinks"),
]


# ------------------------------------------------------------------------ helpers


def export_env(endpoint_url: str | None = None, **extra: str) -> dict[str, str]:
    """The user's environment minus any real AWS settings, plus the test server's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "RECOMMENDER_EXPORT_", "DBT_TARGET_PATH", "DUCKDB_PATH"))
    }
    env.update(S3_TEST_CREDENTIALS)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(extra)
    return env


def run_export(
    *args: str,
    env: dict[str, str],
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, str(EXPORT), *args],
        cwd=cwd or PROJECT_DIR,
        env=env,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    return result


def refused(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    """Assert the export refused (exit != 0) with a message containing the phrases."""
    assert result.returncode != 0, f"export should have refused:\n{result.stdout}"
    message = result.stderr
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in the error:\n{message}"
    assert "Traceback" not in message, message
    assert "testing" not in message and "wrong-secret" not in message  # no secrets shown
    return message


def snapshot(client: Any, bucket: str) -> dict[str, bytes]:
    """Every object in the bucket with its bytes."""
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of an export folder with its bytes (not latest.json's lock file)."""
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if not path.name.endswith(".lock")
    }


def mart_rows(duckdb_path: Path) -> list[tuple]:
    return query(
        duckdb_path,
        "select product_id, recommendation_rank, recommended_product_id, similarity,"
        " pair_count, product_category, recommended_category"
        " from product_recommendations order by product_id, recommendation_rank",
    )


def tutorial_json(sales_df: pd.DataFrame) -> bytes:
    """The tutorial's own code path, from the sales lines to the JSON bytes.

    Verbatim except where pandas 3 needs it: .values is read-only under copy-on-write,
    so the diagonal is zeroed on a copy; reset_index(inplace=True) is deprecated, so its
    result is assigned.
    """
    pivot_df = pd.pivot_table(
        sales_df, index="order_id", columns="product_id", values="category", aggfunc="count"
    )
    pivot_df = pivot_df.reset_index()
    pivot_df = pivot_df.fillna(0)
    pivot_df = pivot_df.drop("order_id", axis=1)

    co_matrix = pivot_df.T.dot(pivot_df)
    values = co_matrix.to_numpy(copy=True)
    np.fill_diagonal(values, 0)
    co_matrix = pd.DataFrame(values, index=co_matrix.index, columns=co_matrix.columns)

    cos_score_df = pd.DataFrame(cosine_similarity(co_matrix))
    cos_score_df.index = co_matrix.index
    cos_score_df.columns = np.array(co_matrix.index)

    # The fixture must not lean on ties or zero scores (we keep only similarity > 0).
    for product in cos_score_df.index:
        scores = np.sort(cos_score_df[cos_score_df.index != product][product].to_numpy())
        assert scores[-5:].min() > 0 and np.diff(scores[-6:]).min() > 1e-6, product

    product_recs = []
    for i in cos_score_df.index:
        product_recs.append(
            cos_score_df[cos_score_df.index != i][i].sort_values(ascending=False)[0:5].index
        )

    product_recs_df = pd.DataFrame(product_recs)
    product_recs_df["recs_list"] = product_recs_df.values.tolist()
    product_recs_df.index = cos_score_df.index
    product_recs_df["json_out"] = product_recs_df["recs_list"].apply(
        lambda x: [str(element) for element in x]
    )
    product_recs_df["json_out"] = product_recs_df["json_out"].apply(lambda x: ";".join(x))
    product_recs_dict = product_recs_df.to_dict()
    return json.dumps(product_recs_dict["json_out"], indent=4, ensure_ascii=False).encode("UTF-8")


def copy_build(sample_build: Path, folder: Path) -> Path:
    """A private copy of the sample build's DuckDB file (it carries its verdict) to modify."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_build, folder / "recommender.duckdb")
    return folder / "recommender.duckdb"


@pytest.fixture(scope="module")
def sample(sample_build: Path) -> dict[str, str]:
    """The --duckdb argument for the session's sample build."""
    return {"duckdb": str(sample_build)}


def sample_args(sample: dict[str, str], dest: str, *extra: str) -> list[str]:
    return ["--duckdb", sample["duckdb"], "--dest", dest]


@pytest.fixture
def bucket(s3_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the session's moto server."""
    name = "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:50].strip("-")
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


def latest_of(client: Any, bucket: str, prefix: str = "") -> dict[str, Any]:
    return json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}latest.json")["Body"].read())


# -------------------------------------------------------------------------- tests


def test_help_shows_examples() -> None:
    result = ok(run_export("--help", env=export_env()))
    assert "examples:" in result.stdout
    assert "s3://my-bucket/recs/" in result.stdout
    assert "--allow-failed-validation" in result.stdout


def test_tutorial_format_byte_for_byte(tmp_path: Path, s3_server: str, bucket: str) -> None:
    sales_df = pd.DataFrame(TINY_SALES, columns=["order_id", "product_id", "category"])
    sales_csv = tmp_path / "tiny_sales.csv"
    sales_df.to_csv(sales_csv, index=False)
    expected = tutorial_json(sales_df)

    # Only the mart and its upstream: 7 products are too few for the validation thresholds.
    duckdb_path = build(
        tmp_path / "build",
        dbt_vars={"sales_path": str(sales_csv)},
        select="+product_recommendations +sales_rejected",
    )
    env = export_env(s3_server)
    ok(
        run_export(
            *["--duckdb", str(duckdb_path), "--timestamp", STAMP],
            *["--dest", f"s3://{bucket}/tiny/"],
            env=env,
        )
    )
    client = s3_client(s3_server)
    key = f"tiny/recommendations_{STAMP}.json"
    uploaded = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert uploaded == expected
    assert "café".encode() in uploaded  # UTF-8, not \\u escapes

    # The local destination writes the very same bytes.
    local = tmp_path / "local"
    ok(
        run_export(
            *["--duckdb", str(duckdb_path), "--timestamp", STAMP],
            *["--dest", str(local)],
            env=env,
        )
    )
    assert (local / f"recommendations_{STAMP}.json").read_bytes() == expected


@pytest.mark.parametrize("export_format", ["tutorial", "rich"])
def test_object_round_trips_to_the_mart(
    sample: dict[str, str], s3_server: str, bucket: str, export_format: str
) -> None:
    result = ok(
        run_export(
            *sample_args(sample, f"s3://{bucket}/recs"),
            *["--format", export_format, "--timestamp", STAMP],
            env=export_env(s3_server),
        )
    )
    assert "[7/7]" in result.stdout  # a progress line per step
    client = s3_client(s3_server)
    body = client.get_object(Bucket=bucket, Key=f"recs/recommendations_{STAMP}.json")["Body"]
    exported = json.loads(body.read())
    rows = mart_rows(Path(sample["duckdb"]))
    assert rows
    if export_format == "tutorial":
        expected: dict[str, Any] = {}
        for product_id, _, recommended, *_ in rows:
            expected.setdefault(product_id, []).append(recommended)
        assert {key: value.split(";") for key, value in exported.items()} == expected
    else:
        back = [
            (
                product_id,
                item["rank"],
                item["product_id"],
                item["similarity"],
                item["pair_count"],
                item["product_category"],
                item["recommended_category"],
            )
            for product_id, items in exported.items()
            for item in items
        ]
        assert back == rows  # floats included: exactly, not approximately
    assert list(exported) == sorted(exported)


def test_manifest_checksum_and_latest_moves_only_on_success(
    sample: dict[str, str], s3_server: str, bucket: str
) -> None:
    client = s3_client(s3_server)
    env = export_env(s3_server)
    ok(run_export(*sample_args(sample, f"s3://{bucket}/"), "--timestamp", STAMP, env=env))
    first_key = f"recommendations_{STAMP}.json"
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=f"recommendations_{STAMP}.manifest.json")[
            "Body"
        ].read()
    )
    body = client.get_object(Bucket=bucket, Key=first_key)["Body"].read()
    assert manifest["sha256"] == sha256(body).hexdigest()
    rows = mart_rows(Path(sample["duckdb"]))
    assert manifest["export_key"] == first_key
    assert manifest["format"] == "tutorial"
    assert manifest["row_count"] == len(rows)
    assert manifest["product_count"] == len({row[0] for row in rows})
    assert manifest["source_duckdb"] == str(Path(sample["duckdb"]).resolve())
    assert manifest["vars"]["top_k"] == 5
    assert manifest["project_version"] == "0.1.0"
    assert "validation" in manifest and "created_at" in manifest
    latest = latest_of(client, bucket)
    assert latest == {
        "export_key": first_key,
        "manifest_key": f"recommendations_{STAMP}.manifest.json",
        "sha256": manifest["sha256"],
        "created_at": manifest["created_at"],
    }

    # A refused export (the key exists) leaves everything as it was...
    before = snapshot(client, bucket)
    refused(
        run_export(*sample_args(sample, f"s3://{bucket}/"), "--timestamp", STAMP, env=env),
        "already exists",
    )
    assert snapshot(client, bucket) == before

    # ... a dry run writes nothing ...
    result = ok(
        run_export(
            *sample_args(sample, f"s3://{bucket}/"), "--timestamp", LATER, "--dry-run", env=env
        )
    )
    assert f"recommendations_{LATER}.json" in result.stdout
    assert snapshot(client, bucket) == before

    # ... and a successful one moves latest.json to itself.
    ok(
        run_export(
            *sample_args(sample, f"s3://{bucket}/"),
            *["--timestamp", LATER, "--format", "rich"],
            env=env,
        )
    )
    assert latest_of(client, bucket)["export_key"] == f"recommendations_{LATER}.json"
    after = snapshot(client, bucket)
    assert {key: after[key] for key in before if key != "latest.json"} == {
        key: value for key, value in before.items() if key != "latest.json"
    }


def test_refusals_leave_previous_export_untouched(
    sample_build: Path, sample: dict[str, str], s3_server: str, bucket: str, tmp_path: Path
) -> None:
    client = s3_client(s3_server)
    env = export_env(s3_server)
    dest = f"s3://{bucket}/recs/"
    ok(run_export(*sample_args(sample, dest), "--timestamp", STAMP, env=env))
    before = snapshot(client, bucket)
    assert f"recs/recommendations_{STAMP}.json" in before

    def attempt(duckdb_path: Path, *extra: str) -> str:
        args = ["--duckdb", str(duckdb_path), "--dest", dest]
        return refused(run_export(*args, "--timestamp", LATER, *extra, env=env))

    assert "does not exist" in attempt(tmp_path / "missing.duckdb")

    no_table = copy_build(sample_build, tmp_path / "no_table")
    with duckdb.connect(str(no_table)) as con:
        con.execute("drop table product_recommendations")
    assert "table product_recommendations is missing" in attempt(no_table)

    empty = copy_build(sample_build, tmp_path / "empty")
    with duckdb.connect(str(empty)) as con:
        con.execute("delete from product_recommendations")
    assert "is empty" in attempt(empty)

    missing_bucket = f"missing-{bucket}"[:63].rstrip("-")
    message = refused(run_export(*sample_args(sample, f"s3://{missing_bucket}/"), env=env))
    assert "does not exist" in message and "Create it" in message

    # A real failed dbt run: the mart's tests with top_k 1 against a top-5 build.
    failed = copy_build(sample_build, tmp_path / "failed")
    result = run_dbt(
        ["test", "--select", "product_recommendations"],
        failed.parent,
        duckdb_path=failed,
        dbt_vars={"top_k": 1},
    )
    assert result.returncode == 1, result.stdout[-3000:]
    # It failed for the reason meant: every product has 5 > top_k recommendations.
    (products,) = query(failed, "select count(distinct product_id) from product_recommendations")[0]
    assert f"FAIL {products} assert_at_most_top_k_per_product" in result.stdout, result.stdout
    rank_test = "accepted_range_product_recommendations_recommendation_rank___var_top_k___1"
    assert f"Failure in test {rank_test}" in result.stdout, result.stdout[-3000:]
    message = attempt(failed)
    # The refusal, read from the failed database's own verdict, names both failed checks.
    assert "assert_at_most_top_k_per_product (test fail)" in message, message
    assert f"{rank_test} (test fail)" in message, message
    assert "--allow-failed-validation" in message
    assert snapshot(client, bucket) == before

    # The override exports, and says so in the manifest.
    ok(
        run_export(
            *["--duckdb", str(failed)],
            *["--dest", dest, "--timestamp", LATER, "--allow-failed-validation"],
            env=env,
        )
    )
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=f"recs/recommendations_{LATER}.manifest.json")[
            "Body"
        ].read()
    )
    assert manifest["allowed_failed_validation"] is True
    assert manifest["build"]["failed"] and manifest["build"]["passed"] is False
    assert manifest["vars"]["top_k"] == 1  # the vars of the latest command, as it recorded them


def test_no_arguments_writes_the_local_folder(sample_build: Path, tmp_path: Path) -> None:
    """`python scripts/export.py` after a build: DUCKDB_PATH, exports/ in the working dir."""
    work = tmp_path / "project"
    copy_build(sample_build, work)
    env = export_env()
    env["DUCKDB_PATH"] = str(work / "recommender.duckdb")
    result = ok(run_export(env=env, cwd=work))
    exports = work / "exports"
    names = sorted(folder_snapshot(exports))
    assert len(names) == 3 and names[0] == "latest.json", names
    latest = json.loads((exports / "latest.json").read_text())
    data = (exports / latest["export_key"]).read_bytes()
    assert sha256(data).hexdigest() == latest["sha256"]
    manifest = json.loads((exports / latest["manifest_key"]).read_text())
    assert manifest["sha256"] == latest["sha256"]
    assert manifest["row_count"] == len(mart_rows(work / "recommender.duckdb"))
    assert "[1/7]" in result.stdout and "done:" in result.stdout

    # Same minute again: refused, the folder is exactly as it was (no temp files left).
    before = folder_snapshot(exports)
    ts = latest["export_key"].removeprefix("recommendations_").removesuffix(".json")
    refused(run_export("--timestamp", ts, env=env, cwd=work), "already exists")
    assert folder_snapshot(exports) == before
    # A dry run writes nothing, not even the folder.
    ok(run_export("--dry-run", "--dest", str(work / "new"), env=env, cwd=work))
    assert not (work / "new").exists()


# ------------------------------------------- refusals that need their own S3 server


@pytest.fixture(scope="module")
def auth_server(sample: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A moto server with authentication on: an IAM user with s3:* and two buckets, each with
    a good export; one bucket's policy then denies PutObject.

    moto starts without checking credentials (INITIAL_NO_AUTH_ACTION_COUNT unset = never);
    the setup runs in that window, then POST /moto-api/reset-auth 0 turns checking on for
    every later request (the env var would count requests, which depends on boto internals).
    """
    with moto_server() as server:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=server.url,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name="us-east-1",
        )
        iam.create_user(UserName="exporter")
        iam.put_user_policy(
            UserName="exporter",
            PolicyName="s3-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="exporter")["AccessKey"]
        credentials = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        client = s3_client(server.url, **credentials)
        env = export_env(server.url, **credentials)
        for bucket in ("open-bucket", "locked-bucket"):
            client.create_bucket(Bucket=bucket)
            ok(run_export(*sample_args(sample, f"s3://{bucket}/"), "--timestamp", STAMP, env=env))
        client.put_bucket_policy(
            Bucket="locked-bucket",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:PutObject",
                            "Resource": "arn:aws:s3:::locked-bucket/*",
                        }
                    ],
                }
            ),
        )
        request = urllib.request.Request(
            f"{server.url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "application/octet-stream"},  # not a form: raw body
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield {"url": server.url, "credentials": credentials, "client": client, "env": env}


def test_authentication_is_enforced_by_the_auth_server(auth_server: dict[str, Any]) -> None:
    """The refusal tests below mean something only if moto checks signatures."""
    good = auth_server["client"]
    assert "latest.json" in snapshot(good, "open-bucket")
    bad = s3_client(
        auth_server["url"],
        AWS_ACCESS_KEY_ID=auth_server["credentials"]["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY="wrong-secret",
    )
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        bad.put_object(Bucket="open-bucket", Key="probe", Body=b"x")


def test_wrong_secret_is_refused(auth_server: dict[str, Any], sample: dict[str, str]) -> None:
    client = auth_server["client"]
    before = snapshot(client, "open-bucket")
    env = {**auth_server["env"], "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    message = refused(
        run_export(*sample_args(sample, "s3://open-bucket/"), "--timestamp", LATER, env=env),
        "rejected the credentials",
    )
    assert "SignatureDoesNotMatch" in message
    assert snapshot(client, "open-bucket") == before
    # The right secret still works against the same server.
    ok(
        run_export(
            *sample_args(sample, "s3://open-bucket/"),
            "--timestamp",
            LATER,
            env=auth_server["env"],
        )
    )
    assert latest_of(client, "open-bucket")["export_key"] == f"recommendations_{LATER}.json"


def test_bucket_policy_denying_put_is_refused(
    auth_server: dict[str, Any], sample: dict[str, str]
) -> None:
    client = auth_server["client"]
    before = snapshot(client, "locked-bucket")
    refused(
        run_export(
            *sample_args(sample, "s3://locked-bucket/"),
            *["--timestamp", LATER],
            env=auth_server["env"],
        ),
        "access denied",
        "s3:PutObject",
    )
    assert snapshot(client, "locked-bucket") == before


def test_stopped_server_is_refused(sample: dict[str, str]) -> None:
    """A frozen server (SIGSTOP: connections hang) and a dead one (connection refused)."""
    with moto_server() as server:
        client = s3_client(server.url)
        client.create_bucket(Bucket="recs")
        env = export_env(server.url)
        args = [*sample_args(sample, "s3://recs/"), "--max-attempts", "2", "--timeout", "1"]
        ok(run_export(*args, "--timestamp", STAMP, env=env))
        before = snapshot(client, "recs")

        server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            message = refused(run_export(*args, "--timestamp", LATER, env=env), "cannot reach")
            assert time.monotonic() - started < 120
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert "--endpoint-url" in message
        assert snapshot(client, "recs") == before

        server.stop()
        refused(run_export(*args, "--timestamp", LATER, env=env), "cannot reach")


class FlakyProxy:
    """A TCP proxy in front of the S3 server whose first connections fail: the first is
    dropped unanswered, the next answered `503 Slow Down`. Later ones are forwarded."""

    def __init__(self, upstream_port: int, failures: int = 2) -> None:
        self.upstream_port = upstream_port
        self.failures = failures
        self.connections = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with proxy.lock:
                    proxy.connections += 1
                    number = proxy.connections
                client: socket.socket = self.request
                if number == 1:
                    return  # dropped: the client sees the connection closed
                if number <= proxy.failures:
                    client.recv(65536)
                    client.sendall(
                        b"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    return
                with socket.create_connection(("127.0.0.1", proxy.upstream_port)) as upstream:
                    sockets = [client, upstream]
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 30)
                        if not readable:
                            return
                        for source in readable:
                            chunk = source.recv(65536)
                            if not chunk:
                                return
                            (upstream if source is client else client).sendall(chunk)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_transient_errors_are_retried(sample: dict[str, str], s3_server: str, bucket: str) -> None:
    proxy = FlakyProxy(int(s3_server.rsplit(":", 1)[1]))
    try:
        result = ok(
            run_export(
                *sample_args(sample, f"s3://{bucket}/"),
                *["--timestamp", STAMP, "--max-attempts", "4"],
                env=export_env(proxy.url),
            )
        )
    finally:
        proxy.close()
    assert proxy.connections > proxy.failures  # it failed first, then got through
    assert "done:" in result.stdout
    assert latest_of(s3_client(s3_server), bucket)["export_key"] == f"recommendations_{STAMP}.json"


def test_conditional_writes_hold_without_the_preflight_check(
    s3_server: str, bucket: str, tmp_path: Path
) -> None:
    """The server-side conditions (If-None-Match, If-Match) and the hard link refuse on
    their own, as when another export writes between our check and our write."""
    from recommender_io import storage

    client = s3_client(s3_server)
    client.put_object(Bucket=bucket, Key="taken.json", Body=b"theirs")
    client.put_object(Bucket=bucket, Key="latest.json", Body=b'{"export_key": "old"}')
    env = {**os.environ, **S3_TEST_CREDENTIALS}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        destination = storage.S3Bucket(bucket, s3_server, max_attempts=2, timeout=5)
        assert not destination.exists("new.json")
        assert destination.read_pointer("latest.json") == b'{"export_key": "old"}'
        with pytest.raises(storage.KeyExists, match="already exists"):
            destination.put_new("taken.json", b"ours")
        assert client.get_object(Bucket=bucket, Key="taken.json")["Body"].read() == b"theirs"
        # Another export moves latest.json after we read it: ours must not clobber it.
        client.put_object(Bucket=bucket, Key="latest.json", Body=b'{"export_key": "other"}')
        with pytest.raises(storage.PointerMoved, match="changed by another export"):
            destination.put_pointer("latest.json", b'{"export_key": "ours"}')
    assert latest_of(client, bucket) == {"export_key": "other"}

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "taken.json").write_bytes(b"theirs")
    local = storage.LocalFolder(folder)
    with pytest.raises(storage.KeyExists, match="already exists"):
        local.put_new("taken.json", b"ours")
    assert folder_snapshot(folder) == {"taken.json": b"theirs"}  # no temp file left
    assert local.read_pointer("latest.json") is None
    (folder / "latest.json").write_bytes(b'{"export_key": "other"}')
    with pytest.raises(storage.PointerMoved, match="changed by another export"):
        local.put_pointer("latest.json", b'{"export_key": "ours"}')
    assert (folder / "latest.json").read_bytes() == b'{"export_key": "other"}'


@pytest.mark.parametrize("export_format", ["tutorial", "rich"])
def test_every_file_of_an_export_matches_its_json_schema(
    sample: dict[str, str], tmp_path: Path, export_format: str
) -> None:
    """schemas/*.schema.json are the contract of docs/export.md; what export.py writes fits."""
    from recommender_io.export_format import schema_problems

    dest = tmp_path / "exports"
    ok(run_export(*sample_args(sample, str(dest)), "--format", export_format, env=export_env()))
    latest = json.loads((dest / "latest.json").read_text())
    manifest = json.loads((dest / latest["manifest_key"]).read_text())
    data = json.loads((dest / latest["export_key"]).read_text())
    assert schema_problems(latest, "latest") == []
    assert schema_problems(manifest, "manifest") == []
    assert schema_problems(data, f"recommendations.{export_format}") == []
    # The schemas can fail: what the loader must refuse breaks them.
    assert schema_problems({**latest, "sha256": "not-hex"}, "latest")
    assert schema_problems({key: v for key, v in manifest.items() if key != "build"}, "manifest")
    product = next(iter(data))
    broken = {**data, f" {product}": data[product], "a;b": data[product]}
    assert len(schema_problems(broken, f"recommendations.{export_format}")) >= 2
    if export_format == "rich":
        item = {**data[product][0], "similarity": 0}
        assert schema_problems({product: [item]}, "recommendations.rich")
