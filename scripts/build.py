"""Run `dbt build` into a fresh DuckDB file, then swap it into place atomically.

`make build` and `make run` use this instead of building in place, because
DuckDB allows one writer or many readers per file:

- an analyst holding a read-only connection to recommender.duckdb does not
  break the build (dbt writes to another file) and never sees a half-built
  database: the finished file replaces the old one in one `os.replace`.
  Readers that had the old file open keep reading it (on Linux their open file
  survives the rename); new connections get the new one.
- a build that fails, or is killed (even with SIGKILL), never touches the
  current database; its leftover `<file>.building` is removed by the next run.
  When dbt reports a failure, what it built is kept as `<file>.failed` (one,
  replaced each time) so you can look, e.g., at sales_rejected.
- the file being built always has the same name, `<file>.building`, so the
  path dbt sees (profiles.yml) does not change between runs and a rebuild with
  the same vars reuses dbt's partial parse (target/partial_parse.msgpack).
  One build at a time per database: the run holds an exclusive lock
  (`<file>.building.lock`, fcntl.flock, shared with dbt) from start to end; a
  second build refuses (exit 2) while it is held. The kernel drops the lock
  when the processes die, even on SIGKILL, so a `<file>.building` found while
  the lock is free is a dead build's leftover and is removed.

Usage: python scripts/build.py [--duckdb PATH] [dbt build arguments...]
e.g.   python scripts/build.py --vars '{top_k: 10}'
With --select/--exclude (a partial build) the fresh file starts as a copy of the
current one, so the models not selected are kept.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import duckdb
from recommender_io.duckdb_files import default_duckdb_path

PROJECT_DIR = Path(__file__).resolve().parents[1]
BUILDING_SUFFIX = ".building"
LOCK_SUFFIX = ".building.lock"
# Older versions built into <file>.building-<pid>; their leftovers are still removed.
OLD_BUILDING_MARK = ".building-"
SELECTION_FLAGS = {"-s", "--select", "--models", "-m", "--exclude", "--selector"}


def log(message: str) -> None:
    print(f"build.py: {message}", flush=True)


def resolve_target(path: str) -> Path:
    """DUCKDB_PATH as dbt sees it: relative paths are relative to the project folder."""
    target = Path(path).expanduser()
    return target if target.is_absolute() else PROJECT_DIR / target


def building_path(target: Path) -> Path:
    """Same folder as target (one file system, so os.replace is atomic) and same name every run."""
    return target.with_name(target.name + BUILDING_SUFFIX)


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + LOCK_SUFFIX)


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


class BuildRunning(Exception):
    """Another build holds the lock of this database."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


def acquire_lock(target: Path) -> int:
    """Take the exclusive build lock of target; returns its file descriptor (keep it open).

    Raises BuildRunning (with the holder's pid, as it wrote it) when it is held. The lock
    file is removed by release_lock, so after locking check that the file locked is still
    the one at the path (a finishing build may have removed it between open and flock).
    """
    path = lock_path(target)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BuildRunning(holder) from None
        except OSError:
            os.close(fd)
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(fd)
        if current and (current.st_dev, current.st_ino) == (locked.st_dev, locked.st_ino):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def release_lock(target: Path, fd: int) -> None:
    """Remove the lock file while still holding it, then drop the lock."""
    lock_path(target).unlink(missing_ok=True)
    os.close(fd)


def remove_stale_builds(target: Path) -> list[Path]:
    """Delete leftovers of dead builds (killed, crashed). Call with the build lock held.

    With the lock held no other build is running into <file>.building, so it and its
    .wal and .tmp (DuckDB's spill folder) are a dead build's. <file>.building-<pid>*
    are from older versions of this script: removed when that process is gone.
    """
    building = building_path(target)
    removed = [
        path
        for path in (building, wal_path(building), building.with_name(building.name + ".tmp"))
        if path.exists() or path.is_symlink()
    ]
    for path in target.parent.glob(f"{target.name}{OLD_BUILDING_MARK}*"):
        # <pid>, <pid>.wal or <pid>.tmp
        pid_text = path.name.removeprefix(f"{target.name}{OLD_BUILDING_MARK}").split(".")[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            removed.append(path)
    for path in removed:
        remove_path(path)
    return removed


def is_partial(dbt_args: list[str]) -> bool:
    return any(arg.split("=")[0] in SELECTION_FLAGS for arg in dbt_args)


def run_dbt(dbt: str, dbt_args: list[str], building: Path, lock_fd: int) -> int:
    """dbt build into `building`; SIGINT/SIGTERM are passed on so dbt stops cleanly.

    dbt inherits the lock: should this script die alone, the lock stays held until dbt,
    still writing into `building`, is gone too.
    """
    env = {**os.environ, "DUCKDB_PATH": str(building)}
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    process = subprocess.Popen(
        [dbt, "build", *dbt_args], cwd=PROJECT_DIR, env=env, pass_fds=(lock_fd,)
    )

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
    if not building.exists():
        return  # dbt failed before it wrote anything (e.g. a parse error)
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
        default=str(default_duckdb_path()),
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
    try:
        lock_fd = acquire_lock(target)
    except BuildRunning as running:
        print(
            f"error: another build (pid {running.pid}) is running into {building_path(target)}; "
            "wait for it to finish, or stop it (kill that pid; its leftovers are removed by "
            f"the next run), then run again. {target} was left as it was."
        )
        return 2
    except OSError as exc:
        print(f"error: cannot take the build lock {lock_path(target)}: {exc}. Check the folder.")
        return 2

    building = building_path(target)
    try:
        for path in remove_stale_builds(target):
            log(f"removed {path.name}, left by an interrupted build")
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
        code = run_dbt(args.dbt, dbt_args, building, lock_fd)
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
        release_lock(target, lock_fd)


if __name__ == "__main__":
    sys.exit(main())
