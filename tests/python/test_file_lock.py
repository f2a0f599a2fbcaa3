"""An analyst's open DuckDB connection neither breaks the build nor sees a half-built file.

DuckDB allows one writer or many readers per file. scripts/build.py (what
`make build` and `make run` call) builds into a fresh file and swaps it in with
one atomic rename. Here a real second process holds a read-only connection to
the database for the whole build while a third keeps opening new connections.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from build_script import copy_database, leftovers, recommendation_shape, run_build_script
from conftest import PROJECT_DIR, run_command, run_dbt

# A separate Python process, like an analyst's notebook. mode "hold": one read-only
# connection kept open for the whole run; mode "reconnect": a new connection per query.
# Every observation is (highest rank, rows) or the error; written as JSON when `stop` exists.
ANALYST = r"""
import json, sys, time
from pathlib import Path
import duckdb

database, mode, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
sql = "select max(recommendation_rank), count(*) from product_recommendations"
seen = []
con = duckdb.connect(database, read_only=True) if mode == "hold" else None
(folder / f"{mode}.ready").touch()
while not (folder / "stop").exists():
    try:
        if mode == "hold":
            seen.append(list(con.execute(sql).fetchall()[0]))
        else:
            with duckdb.connect(database, read_only=True) as fresh:
                seen.append(list(fresh.execute(sql).fetchall()[0]))
    except duckdb.Error as exc:
        seen.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.05)
(folder / f"{mode}.json").write_text(json.dumps(seen))
"""


def start_analyst(database: Path, mode: str, folder: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", ANALYST, str(database), mode, str(folder)])
    deadline = time.monotonic() + 60
    while not (folder / f"{mode}.ready").exists():
        assert process.poll() is None, f"analyst ({mode}) exited early"
        assert time.monotonic() < deadline, f"analyst ({mode}) did not start"
        time.sleep(0.05)
    return process


def stop_analysts(processes: list[subprocess.Popen[bytes]], folder: Path) -> dict[str, list]:
    (folder / "stop").touch()
    for process in processes:
        assert process.wait(timeout=60) == 0
    return {
        mode: json.loads((folder / f"{mode}.json").read_text()) for mode in ("hold", "reconnect")
    }


def test_build_succeeds_while_an_analyst_reads_and_swaps_in_whole(
    sample_build: Path, tmp_path: Path
) -> None:
    target = copy_database(sample_build, tmp_path)
    old = recommendation_shape(target)
    assert old[0] == 5

    folder = tmp_path / "analysts"
    folder.mkdir()
    analysts = [start_analyst(target, mode, folder) for mode in ("hold", "reconnect")]
    try:
        second = run_build_script(tmp_path / "second", target, {"top_k": 3})
    finally:
        seen = stop_analysts(analysts, folder)

    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "replaced by the new build" in second.stdout
    new = recommendation_shape(target)
    assert new[0] == 3 and new != old
    # The open connection kept reading the old database, whole, for the entire build.
    assert seen["hold"] and all(tuple(s) == old for s in seen["hold"]), seen["hold"][:5]
    # New connections always found a whole database: the old one, then the new one.
    assert seen["reconnect"], "the reconnecting analyst made no query"
    assert all(isinstance(s, list) and tuple(s) in {old, new} for s in seen["reconnect"]), [
        s for s in seen["reconnect"] if not isinstance(s, list)
    ][:3]
    assert leftovers(target) == [], "build files left beside the database"


def test_plain_dbt_build_in_place_is_what_the_swap_avoids(
    sample_build: Path, tmp_path: Path
) -> None:
    # Without scripts/build.py the held file cannot be written: shows the test above can fail.
    target = copy_database(sample_build, tmp_path)
    folder = tmp_path / "analysts"
    folder.mkdir()
    holder = [start_analyst(target, "hold", folder)]
    try:
        in_place = run_dbt(["run", "--select", "stg_sales__lines"], tmp_path / "in_place", target)
    finally:
        (folder / "stop").touch()
        assert holder[0].wait(timeout=60) == 0
    assert in_place.returncode != 0
    assert "lock" in (in_place.stdout + in_place.stderr).lower()


def test_failed_build_leaves_the_database_alone(sample_build: Path, tmp_path: Path) -> None:
    target = copy_database(sample_build, tmp_path)
    before = recommendation_shape(target)
    failed = run_build_script(tmp_path / "second", target, {"sales_path": "no/such/file.csv"})
    assert failed.returncode != 0
    assert "was left as it was" in failed.stdout
    assert recommendation_shape(target) == before
    # What the failed run built is kept apart for inspection, nothing else is left.
    assert leftovers(target) == ["recommender.duckdb.failed"]


def test_make_build_uses_the_swapping_build() -> None:
    dry_run = run_command(["make", "-n", "build"], cwd=PROJECT_DIR, timeout=120)
    assert dry_run.returncode == 0, dry_run.stderr
    assert "scripts/build.py" in dry_run.stdout
