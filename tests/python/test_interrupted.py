"""A build killed mid-run (SIGKILL) leaves the previous database readable; the next run works.

Real processes are killed: the whole `scripts/build.py` process group (what a
job scheduler or a closed terminal does), and dbt alone under a live build.py.
build.py always builds into `<file>.building` under an exclusive lock
(`<file>.building.lock`): a second build refuses while a build runs, leftovers
are removed once the lock is free, and as the path dbt sees never changes, a
rebuild with the same vars gets dbt's partial parse.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
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

    # While it runs, a second build into the same database refuses and changes nothing.
    second = run_build_script(tmp_path / "second", target, {"top_k": 3})
    assert second.returncode == 2, second.stdout[-4000:] + second.stderr[-2000:]
    assert (
        f"another build (pid {process.pid}) is running into {target}.building" in second.stdout
    ), second.stdout
    assert process.poll() is None, "the second build disturbed the first"

    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    # The previous database is untouched and readable; the killed build's file is left over.
    assert recommendation_shape(target) == before
    assert query(target, "select count(*) from information_schema.tables") == tables_before
    assert "recommender.duckdb.building" in leftovers(target), leftovers(target)

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


# A stand-in for a running build: holds the build lock, as build.py does, until stdin closes.
LOCK_HOLDER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\n".encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_second_build_refuses_while_the_lock_is_held(sample_build: Path, tmp_path: Path) -> None:
    target = copy_database(sample_build, tmp_path)
    before = recommendation_shape(target)
    building = tmp_path / "recommender.duckdb.building"
    building.write_text("being built by the running build")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, f"{target}.building.lock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout and holder.stdout.readline() == "locked\n"
        refused = run_build_script(tmp_path / "second", target, {"top_k": 3})
    finally:
        holder.communicate(timeout=30)  # closes its stdin: it exits, the kernel drops the lock
    assert refused.returncode == 2, refused.stdout[-4000:] + refused.stderr[-2000:]
    assert f"another build (pid {holder.pid}) is running into {building}" in refused.stdout
    assert "wait for it" in refused.stdout
    # The running build's file and the database are untouched.
    assert building.read_text() == "being built by the running build"
    assert recommendation_shape(target) == before
    assert "recommender.duckdb.failed" not in leftovers(target)


def test_leftovers_are_removed_only_when_no_build_holds_the_lock(tmp_path: Path) -> None:
    build = script_module("build")
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead, alive = finished.pid, os.getpid()
    target = tmp_path / "recommender.duckdb"
    for suffix in ("", ".wal"):
        (tmp_path / f"recommender.duckdb.building{suffix}").write_text("half built")
    spill = tmp_path / "recommender.duckdb.building.tmp"  # DuckDB's spill folder
    spill.mkdir()
    (spill / "block").write_text("spilled")
    # Leftovers of older versions of build.py, which built into <file>.building-<pid>.
    (tmp_path / f"recommender.duckdb.building-{dead}").write_text("half built")
    (tmp_path / f"recommender.duckdb.building-{alive}").write_text("a build still running")
    all_files = leftovers(target)

    # A running build holds the lock (here another open file description, as in another
    # process): the lock cannot be taken, so nothing is removed.
    holder = os.open(tmp_path / "recommender.duckdb.building.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        os.write(holder, b"4242\n")
        try:
            build.acquire_lock(target)
        except build.BuildRunning as running:
            assert running.pid == "4242"
        else:
            raise AssertionError("the lock was taken while another holder had it")
    finally:
        os.close(holder)  # the build "dies": its lock goes with it
    assert leftovers(target) == sorted([*all_files, "recommender.duckdb.building.lock"])

    # Once the lock is free, the files are a dead build's and go; the old-style file of a
    # live process stays. The lock file itself is removed on release.
    lock = build.acquire_lock(target)
    try:
        removed = build.remove_stale_builds(target)
    finally:
        build.release_lock(target, lock)
    assert sorted(p.name for p in removed) == [
        "recommender.duckdb.building",
        f"recommender.duckdb.building-{dead}",
        "recommender.duckdb.building.tmp",
        "recommender.duckdb.building.wal",
    ]
    assert leftovers(target) == [f"recommender.duckdb.building-{alive}"]


def test_rebuild_with_the_same_vars_gets_dbts_partial_parse(
    sample_build: Path, tmp_path: Path
) -> None:
    # Same target/ (partial_parse.msgpack) and logs/ for both runs, as with `make run`.
    target = copy_database(sample_build, tmp_path)
    workdir = tmp_path / "builds"
    first = run_build_script(workdir, target, {"top_k": 3})
    assert first.returncode == 0, first.stdout[-4000:]
    assert "Starting full parse" in first.stdout  # a fresh target/
    second = run_build_script(workdir, target, {"top_k": 3})
    assert second.returncode == 0, second.stdout[-4000:]
    # Had the database path dbt sees changed, dbt would print "Unable to do partial
    # parsing because profile has changed" and parse everything again.
    assert "Unable to do partial parsing" not in second.stdout, second.stdout[:3000]
    assert "Starting full parse" not in second.stdout
    log = (workdir / "logs" / "dbt.log").read_text()
    # dbt logs the first run's full parse once; the second says "Partial parsing enabled: ..."
    # (and, when no file changed, "Partial parsing enabled, no changes found").
    assert log.count("Starting full parse") == 1, "the second run parsed the project again"
    assert "Partial parsing enabled" in log, "the second run did not parse partially"
    assert recommendation_shape(target)[0] == 3
    assert leftovers(target) == []
