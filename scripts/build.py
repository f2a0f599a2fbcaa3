"""Run `dbt build` into a fresh DuckDB file, then swap it into place atomically.

`make build` and `make run` use this instead of building in place, because
DuckDB allows one writer or many readers per file:

- an analyst holding a read-only connection to recommender.duckdb does not
  break the build (dbt writes to another file) and never sees a half-built
  database: the finished file replaces the old one in one `os.replace`.
  Readers that had the old file open keep reading it (on Linux their open file
  survives the rename); new connections get the new one.
- a build that fails, or is killed (even with SIGKILL), never touches the
  current database; its leftover `<file>.building-<pid>` is removed by the next
  run. When dbt reports a failure, what it built is kept as `<file>.failed` (one,
  replaced each time) so you can look, e.g., at sales_rejected.

Usage: python scripts/build.py [--duckdb PATH] [dbt build arguments...]
e.g.   python scripts/build.py --vars '{top_k: 10}'
With --select/--exclude (a partial build) the fresh file starts as a copy of the
current one, so the models not selected are kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[1]
BUILDING_MARK = ".building-"
SELECTION_FLAGS = {"-s", "--select", "--models", "-m", "--exclude", "--selector"}


def log(message: str) -> None:
    print(f"build.py: {message}", flush=True)


def resolve_target(path: str) -> Path:
    """DUCKDB_PATH as dbt sees it: relative paths are relative to the project folder."""
    target = Path(path).expanduser()
    return target if target.is_absolute() else PROJECT_DIR / target


def building_path(target: Path, pid: int) -> Path:
    return target.with_name(f"{target.name}{BUILDING_MARK}{pid}")


def wal_path(database: Path) -> Path:
    return database.with_name(database.name + ".wal")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_database(database: Path) -> None:
    """The file, its write-ahead log and DuckDB's spill folder (profiles.yml: <file>.tmp)."""
    for path in (database, wal_path(database), database.with_name(database.name + ".tmp")):
        remove_path(path)


def remove_stale_builds(target: Path) -> list[Path]:
    """Delete leftovers of builds whose process is gone (killed, crashed)."""
    removed = []
    for path in target.parent.glob(f"{target.name}{BUILDING_MARK}*"):
        # <pid>, <pid>.wal or <pid>.tmp (DuckDB's spill folder)
        pid_text = path.name.removeprefix(f"{target.name}{BUILDING_MARK}").split(".")[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            remove_path(path)
            removed.append(path)
    return removed


def is_partial(dbt_args: list[str]) -> bool:
    return any(arg.split("=")[0] in SELECTION_FLAGS for arg in dbt_args)


def run_dbt(dbt: str, dbt_args: list[str], building: Path) -> int:
    """dbt build into `building`; SIGINT/SIGTERM are passed on so dbt stops cleanly."""
    env = {**os.environ, "DUCKDB_PATH": str(building)}
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    process = subprocess.Popen([dbt, "build", *dbt_args], cwd=PROJECT_DIR, env=env)

    def forward(signum: int, _frame: FrameType | None) -> None:
        process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def finish_file(building: Path) -> None:
    """Checkpoint so the file is self-contained (no .wal beside it), and check it opens."""
    with duckdb.connect(str(building)) as con:
        con.execute("checkpoint")
    if wal_path(building).exists():
        raise RuntimeError(f"{building} still has a write-ahead log after a checkpoint")
    with duckdb.connect(str(building), read_only=True) as con:
        con.execute("select count(*) from information_schema.tables").fetchall()
    with building.open("rb") as handle:
        os.fsync(handle.fileno())


def swap_into_place(building: Path, target: Path) -> None:
    """Atomically replace target by building (same folder, so same file system)."""
    stale_wal = wal_path(target)
    if stale_wal.exists():
        # A log left by an interrupted in-place write belongs to the old file; replayed
        # onto the new one it would corrupt it.
        log(f"removing {stale_wal}: it belongs to the database being replaced")
        stale_wal.unlink()
    os.replace(building, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def failed_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.failed")


def keep_failed(building: Path, target: Path) -> None:
    """Keep what a failed dbt run built (e.g. sales_rejected) for inspection, one at a time."""
    failed = failed_path(target)
    remove_database(failed)
    try:
        finish_file(building)
    except (OSError, duckdb.Error, RuntimeError):
        return
    os.replace(building, failed)
    log(f"what it built is kept in {failed} for inspection (e.g. select * from sales_rejected)")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--duckdb",
        default=os.environ.get("DUCKDB_PATH", "recommender.duckdb"),
        help="the database to replace (default: $DUCKDB_PATH or recommender.duckdb)",
    )
    parser.add_argument(
        "--dbt",
        default=os.environ.get("DBT", str(Path(sys.executable).parent / "dbt")),
        help="the dbt executable (default: $DBT or the dbt next to this Python)",
    )
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, dbt_args = parse_args(argv)
    target = resolve_target(args.duckdb)
    if not target.parent.is_dir():
        print(f"error: folder {target.parent} does not exist; create it or fix DUCKDB_PATH.")
        return 2
    for path in remove_stale_builds(target):
        log(f"removed {path.name}, left by an interrupted build")

    building = building_path(target, os.getpid())
    remove_database(building)
    try:
        if is_partial(dbt_args) and target.exists():
            if wal_path(target).exists():
                print(
                    f"error: {target} has an unfinished write-ahead log ({wal_path(target).name}); "
                    "open it once with duckdb to recover it, or run a full build (no --select)."
                )
                return 2
            shutil.copyfile(target, building)
            log(f"partial build: starting from a copy of {target.name}")
        log(f"building into {building.name}; {target.name} stays as it is until the swap")
        code = run_dbt(args.dbt, dbt_args, building)
        if code != 0:
            log(f"dbt build failed (exit {code}): {target} was left as it was.")
            if code > 0:
                keep_failed(building, target)
            return code if code > 0 else 1
        finish_file(building)
        swap_into_place(building, target)
        log(f"{target} replaced by the new build")
        return 0
    except (OSError, duckdb.Error, RuntimeError) as exc:
        print(f"error: could not finish the build: {exc}. {target} was left as it was.")
        return 1
    finally:
        remove_database(building)


if __name__ == "__main__":
    sys.exit(main())
