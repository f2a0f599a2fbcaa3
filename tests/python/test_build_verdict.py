"""The build's verdict lives in the database it built, and the hand-off reads it there.

Two builds share one target/ folder (as everyone's `make build` and `dbt build` do) but
write different DuckDB files: A passes, B fails validation. Whatever ran last in
target/, exporting A works and exporting B is refused naming B's failed tests (taken
from B's own run_results.json, dbt's record, not from our tables); the loader judges
the exports the same way; the manifest and recommendation_exports carry each build's
invocation id.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
import yaml
from conftest import PROJECT_DIR, dbt_env, query, run_dbt

EXPORT = PROJECT_DIR / "scripts" / "export.py"
LOADER = PROJECT_DIR / "scripts" / "load_postgres.py"
FAILING_VARS = {"min_same_category_rate": 0.99}  # the sample reaches ~0.9


def run_script(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def build_into(
    shared: Path, database: Path, dbt_vars: dict | None = None
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """`dbt build` into `database` with the shared target/; returns dbt's run_results.json."""
    result = run_dbt(["build"], shared, duckdb_path=database, dbt_vars=dbt_vars)
    run_results = json.loads((shared / "target" / "run_results.json").read_text())
    return run_results, result


def failed_in(run_results: dict[str, Any]) -> list[str]:
    """Names of the nodes dbt reported as error or fail in that run."""
    return sorted(
        r["unique_id"].split(".")[2]
        for r in run_results["results"]
        if r["status"] in ("error", "fail")
    )


def invocation_of(run_results: dict[str, Any]) -> str:
    return run_results["metadata"]["invocation_id"]


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A (passes), then B (fails validation), then A again into a third file: one target/."""
    root = tmp_path_factory.mktemp("two_builds")
    shared = root / "shared"
    a_results, a_run = build_into(shared, root / "a.duckdb")
    assert a_run.returncode == 0, a_run.stdout[-4000:]
    b_results, b_run = build_into(shared, root / "b.duckdb", FAILING_VARS)
    assert b_run.returncode != 0, "B was meant to fail validation:\n" + b_run.stdout[-3000:]
    assert failed_in(b_results), "B failed, but no node failed in its run_results.json"
    return {
        "root": root,
        "shared": shared,
        "a": root / "a.duckdb",
        "b": root / "b.duckdb",
        "a_results": a_results,
        "b_results": b_results,
    }


def script_env(builds: dict[str, Any], **extra: str) -> dict[str, str]:
    """A user's environment after those builds: DBT_TARGET_PATH is the shared target/."""
    return dbt_env(builds["shared"], builds["a"], **extra)


def export(builds: dict[str, Any], database: Path, dest: Path, *extra: str):
    return run_script(
        EXPORT, "--duckdb", str(database), "--dest", str(dest), *extra, env=script_env(builds)
    )


def manifest_of(dest: Path) -> dict[str, Any]:
    latest = json.loads((dest / "latest.json").read_text())
    return json.loads((dest / latest["manifest_key"]).read_text())


def test_export_judges_the_database_it_reads_not_target(two_builds: dict[str, Any]) -> None:
    root = two_builds["root"]
    # target/ holds B's failed run: A exports all the same.
    result = export(two_builds, two_builds["a"], root / "exports_a")
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = manifest_of(root / "exports_a")
    assert manifest["build"]["invocation_id"] == invocation_of(two_builds["a_results"])
    assert manifest["build"]["passed"] is True and manifest["build"]["failed"] == []
    # A's vars (the project's default), not B's.
    default = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert manifest["vars"]["min_same_category_rate"] == default["min_same_category_rate"]
    assert default["min_same_category_rate"] != FAILING_VARS["min_same_category_rate"]

    refused = export(two_builds, two_builds["b"], root / "exports_b")
    assert refused.returncode == 1
    for name in failed_in(two_builds["b_results"]):
        assert name in refused.stderr, refused.stderr
    assert invocation_of(two_builds["b_results"]) in refused.stderr
    assert "--allow-failed-validation" in refused.stderr
    assert not (root / "exports_b").exists() or not any((root / "exports_b").iterdir())

    # The other order: a passing build now last in target/ does not let B through.
    again, a2_run = build_into(two_builds["shared"], root / "a2.duckdb")
    assert a2_run.returncode == 0 and not failed_in(again)
    refused = export(two_builds, two_builds["b"], root / "exports_b")
    assert refused.returncode == 1
    assert all(name in refused.stderr for name in failed_in(two_builds["b_results"]))

    # The override exports B and says so in its manifest.
    allowed = export(two_builds, two_builds["b"], root / "exports_b", "--allow-failed-validation")
    assert allowed.returncode == 0, allowed.stderr
    manifest = manifest_of(root / "exports_b")
    assert manifest["build"]["invocation_id"] == invocation_of(two_builds["b_results"])
    assert manifest["build"]["passed"] is False
    assert manifest["allowed_failed_validation"] is True
    assert sorted(node["name"] for node in manifest["build"]["failed"]) == failed_in(
        two_builds["b_results"]
    )
    assert manifest["vars"]["min_same_category_rate"] == 0.99


def test_loader_judges_each_export_by_its_build(
    two_builds: dict[str, Any], postgres_dsn: str
) -> None:
    root = two_builds["root"]
    exports_a, exports_b = root / "load_a", root / "load_b"
    assert export(two_builds, two_builds["a"], exports_a).returncode == 0
    # B's lists equal A's (only a threshold differs): rich bytes differ, so loading B is a load.
    allowed = export(
        two_builds, two_builds["b"], exports_b, "--allow-failed-validation", "--format", "rich"
    )
    assert allowed.returncode == 0, allowed.stderr
    env = script_env(two_builds)

    loaded = run_script(LOADER, "--source", str(exports_a), "--dsn", postgres_dsn, env=env)
    assert loaded.returncode == 0, loaded.stderr
    refused = run_script(LOADER, "--source", str(exports_b), "--dsn", postgres_dsn, env=env)
    assert refused.returncode == 1
    for name in failed_in(two_builds["b_results"]):
        assert name in refused.stderr, refused.stderr
    assert "--allow-failed-validation" in refused.stderr
    with psycopg.connect(postgres_dsn) as con:
        live = con.execute(
            "select build_invocation_id, manifest -> 'build' ->> 'invocation_id'"
            " from recommendation_exports where is_live"
        ).fetchall()
    assert live == [(invocation_of(two_builds["a_results"]),) * 2]

    forced = run_script(
        LOADER,
        *["--source", str(exports_b), "--dsn", postgres_dsn, "--allow-failed-validation"],
        env=env,
    )
    assert forced.returncode == 0, forced.stderr
    assert "failed" in forced.stderr  # loaded, with a warning naming the failures
    with psycopg.connect(postgres_dsn) as con:
        live = con.execute(
            "select build_invocation_id from recommendation_exports where is_live"
        ).fetchall()
    assert live == [(invocation_of(two_builds["b_results"]),)]


def test_a_partial_run_changes_only_the_nodes_it_ran(
    two_builds: dict[str, Any], tmp_path: Path
) -> None:
    """Rerunning B's failed tests with a threshold they pass makes B's verdict pass."""
    database = tmp_path / "b_copy.duckdb"
    database.write_bytes(two_builds["b"].read_bytes())
    failed = failed_in(two_builds["b_results"])
    result = run_dbt(["test", "--select", " ".join(failed)], tmp_path, duckdb_path=database)
    assert result.returncode == 0, result.stdout[-3000:]
    env = dbt_env(tmp_path, database)
    exported = run_script(EXPORT, "--duckdb", str(database), "--dest", str(tmp_path / "e"), env=env)
    assert exported.returncode == 0, exported.stderr
    build = manifest_of(tmp_path / "e")["build"]
    assert build["passed"] is True
    assert (
        build["invocation_ids"][-1]
        == build["invocation_id"]
        != invocation_of(two_builds["b_results"])
    )
    assert invocation_of(two_builds["b_results"]) in build["invocation_ids"]


def test_a_database_without_a_verdict_or_with_an_unfinished_run_is_refused(
    two_builds: dict[str, Any], tmp_path: Path
) -> None:
    env = script_env(two_builds)
    none = tmp_path / "none.duckdb"
    none.write_bytes(two_builds["a"].read_bytes())
    with duckdb.connect(str(none)) as con:
        con.execute("drop view build_verdict")
        for table in ("build_runs", "build_run_inputs", "build_run_results"):
            con.execute(f"drop table {table}")
    refused = run_script(EXPORT, "--duckdb", str(none), "--dest", str(tmp_path / "e1"), env=env)
    assert refused.returncode == 1 and "carries no build verdict" in refused.stderr

    unfinished = tmp_path / "unfinished.duckdb"
    unfinished.write_bytes(two_builds["a"].read_bytes())
    with duckdb.connect(str(unfinished)) as con:  # as on-run-start writes it for a new command
        con.execute(
            "insert into build_runs (invocation_id, run_started_at, command)"
            " values ('killed-run', now()::timestamp + interval 1 minute, 'build')"
        )
    refused = run_script(
        EXPORT, "--duckdb", str(unfinished), "--dest", str(tmp_path / "e2"), env=env
    )
    assert refused.returncode == 1
    assert "killed-run" in refused.stderr and "did not finish" in refused.stderr


def test_the_record_names_the_input_and_every_var(two_builds: dict[str, Any]) -> None:
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    ((vars_text, command, version),) = query(
        two_builds["b"], "select vars, command, project_version from build_runs"
    )
    recorded = json.loads(vars_text)
    assert set(recorded) == set(project["vars"]), "macros/build_verdict.sql misses a var"
    assert recorded["min_same_category_rate"] == 0.99 and recorded["top_k"] == 5
    assert command == "build"
    assert version == project["version"], "dbt_project.yml: on-run-start's project_version"
    seed = PROJECT_DIR / "seeds" / "raw_sales.csv"
    ((path, size, sha),) = query(
        two_builds["b"], "select file_path, size_bytes, sha256 from build_run_inputs"
    )
    import hashlib

    assert Path(path).name == "raw_sales.csv" and size == seed.stat().st_size
    assert sha == hashlib.sha256(seed.read_bytes()).hexdigest()


def test_build_script_records_the_verdict_in_the_file_it_swaps_in(tmp_path: Path) -> None:
    target = tmp_path / "recommender.duckdb"
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "scripts" / "build.py"), "--select", "raw_sales"],
        cwd=PROJECT_DIR,
        env=dbt_env(tmp_path, target),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    run_results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    rows = query(target, "select invocation_id, command from build_runs")
    assert rows == [(invocation_of(run_results), "build")]
    statuses = query(target, "select status from build_verdict where status is not null")
    assert statuses == [("success",)]
    assert re.fullmatch(r"[0-9a-f-]{36}", rows[0][0])


def test_the_report_shows_the_verdict_of_the_database_it_reads(
    two_builds: dict[str, Any], tmp_path: Path
) -> None:
    report = PROJECT_DIR / "scripts" / "report.py"
    env = script_env(two_builds)
    pages = {}
    for name in ("a", "b"):
        output = tmp_path / f"{name}.html"
        result = run_script(
            report, "--duckdb", str(two_builds[name]), "--output", str(output), env=env
        )
        assert result.returncode == 0, result.stderr
        pages[name] = output.read_text(encoding="utf-8")
    assert invocation_of(two_builds["a_results"]) in pages["a"]
    assert 'class="pass">passed' in pages["a"] and 'class="fail">failed' not in pages["a"]
    assert 'class="fail">failed' in pages["b"]
    assert all(name in pages["b"] for name in failed_in(two_builds["b_results"]))

    none = tmp_path / "none.duckdb"
    none.write_bytes(two_builds["a"].read_bytes())
    with duckdb.connect(str(none)) as con:
        con.execute("drop view build_verdict")
        con.execute("drop table build_runs")
    output = tmp_path / "none.html"
    refused = run_script(report, "--duckdb", str(none), "--output", str(output), env=env)
    assert refused.returncode == 1 and "carries no build verdict" in refused.stderr
    assert not output.exists()
