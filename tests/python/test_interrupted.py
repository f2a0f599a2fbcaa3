"""A build killed mid-run (SIGKILL) leaves the previous database readable; the next run works.

Real processes are killed: the whole `scripts/build.py` process group (what a
job scheduler or a closed terminal does), and dbt alone under a live build.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from build_script import (
    build_command,
    copy_database,
    leftovers,
    recommendation_shape,
    run_build_script,
)
from conftest import PROJECT_DIR, dbt_env, generate_sales, query, script_module


def start_build(workdir: Path, target: Path, dbt_vars: dict) -> tuple[subprocess.Popen, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "build.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            build_command(dbt_vars),
            cwd=PROJECT_DIR,
            env=dbt_env(workdir, target),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: build.py and dbt
        )
    return process, output


def wait_until_mid_build(process: subprocess.Popen, output: Path, timeout: float = 300) -> None:
    """Return once dbt has written at least one model into the new file (and is still going)."""
    deadline = time.monotonic() + timeout
    while "OK created" not in output.read_text(errors="replace"):
        assert process.poll() is None, (
            f"build ended before it could be killed:\n{output.read_text()}"
        )
        assert time.monotonic() < deadline, "dbt never got going"
        time.sleep(0.1)


def dbt_child(build_pid: int) -> int:
    children = Path(f"/proc/{build_pid}/task/{build_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_sigkill_mid_build_keeps_the_previous_database(sample_build: Path, tmp_path: Path) -> None:
    target = copy_database(sample_build, tmp_path)
    before = recommendation_shape(target)
    tables_before = query(target, "select count(*) from information_schema.tables")

    # A bigger input so that the build is surely still running when it is killed.
    sales = generate_sales(tmp_path / "sales.csv", lines=200_000, products=2000, seed=7)
    process, output = start_build(tmp_path / "killed", target, {"sales_path": str(sales)})
    wait_until_mid_build(process, output)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    # The previous database is untouched and readable; the killed build's file is left over.
    assert recommendation_shape(target) == before
    assert query(target, "select count(*) from information_schema.tables") == tables_before
    assert any(".building-" in name for name in leftovers(target)), leftovers(target)

    # The next run succeeds, replaces the database and removes the leftover.
    after = run_build_script(tmp_path / "next", target, {"top_k": 3})
    assert after.returncode == 0, after.stdout[-4000:]
    assert "left by an interrupted build" in after.stdout
    assert recommendation_shape(target)[0] == 3
    assert leftovers(target) == []


def test_dbt_killed_under_build_script_is_reported_and_cleaned(
    sample_build: Path, tmp_path: Path
) -> None:
    target = copy_database(sample_build, tmp_path)
    before = recommendation_shape(target)

    process, output = start_build(tmp_path / "killed", target, {"top_k": 3})
    wait_until_mid_build(process, output)
    os.kill(dbt_child(process.pid), signal.SIGKILL)
    assert process.wait(timeout=60) != 0
    assert "dbt build failed" in output.read_text() and "was left as it was" in output.read_text()
    assert recommendation_shape(target) == before
    assert leftovers(target) == []


def test_leftovers_of_dead_builds_only_are_removed(tmp_path: Path) -> None:
    build = script_module("build")
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead, alive = finished.pid, os.getpid()
    target = tmp_path / "recommender.duckdb"
    for suffix in ("", ".wal"):
        (tmp_path / f"recommender.duckdb.building-{dead}{suffix}").write_text("half built")
    spill = tmp_path / f"recommender.duckdb.building-{dead}.tmp"  # DuckDB's spill folder
    spill.mkdir()
    (spill / "block").write_text("spilled")
    (tmp_path / f"recommender.duckdb.building-{alive}").write_text("a build still running")
    removed = build.remove_stale_builds(target)
    assert len(removed) == 3
    assert leftovers(target) == [f"recommender.duckdb.building-{alive}"]
