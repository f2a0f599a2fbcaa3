"""Start and stop a throw-away PostgreSQL server from the machine's own binaries.

Used by the serving tests (tests/python/conftest.py), `make serve-demo` and
scripts/serving_latency.py. The server lives in a temporary folder, listens
only on 127.0.0.1 at a free port, trusts local connections and runs with
fsync off: it is for tests and demos, never for data you want to keep.

PostgreSQL refuses to run as root, so when we are root (CI, containers) the
binaries run as the `postgres` OS user that the Debian package creates.

    python scripts/scratch_postgres.py   # start one, print its DSN, stop on Ctrl-C
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "Install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`; "
    ".ci/run does this) or set PG_BINDIR to the folder holding initdb and pg_ctl."
)


class ScratchPostgresError(RuntimeError):
    """The throw-away server could not be started; the message says why."""


def find_bindir() -> Path:
    """The folder with initdb and pg_ctl: $PG_BINDIR, `pg_config --bindir`, or the newest
    /usr/lib/postgresql/<version>/bin (pg_config can come from libpq-dev without a server)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if shutil.which("pg_config"):
        result = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda path: int(Path(path).parent.name.split(".")[0]), reverse=True)
    candidates += [Path(path) for path in versions]
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ScratchPostgresError(
        f"no PostgreSQL server binaries (initdb, pg_ctl) found. {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ScratchPostgres:
    """One running throw-away server; `stop()` (or leaving the `with` block) removes it."""

    bindir: Path
    base_dir: Path
    port: int
    user: str = "postgres"
    _as_user: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "socket"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *args],
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            check=False,
        )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return "(no server log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def restart(self, mode: str = "fast") -> None:
        """Restart the server in place (same data, port and options): `fast` rolls back open
        transactions and closes their connections; `immediate` is a crash and recovery."""
        pg_ctl = str(self.bindir / "pg_ctl")
        result = self._run(
            pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_file), "-m", mode,
            "-w", "-t", "60", "restart",
        )  # fmt: skip
        if result.returncode != 0:
            raise ScratchPostgresError(
                f"pg_ctl restart failed:\n{result.stdout}\n{result.stderr}\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = str(self.bindir / "pg_ctl")
            self._run(pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> ScratchPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(bindir: Path | None = None, attempts: int = 3) -> ScratchPostgres:
    """initdb into a new temporary folder and start the server; waits until it accepts
    connections. Retries on a new port if another process took the chosen one."""
    bindir = bindir or find_bindir()
    as_user: list[str] = []
    base_dir = Path(tempfile.mkdtemp(prefix="scratch-postgres-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise ScratchPostgresError(
                f"running as root and there is no `postgres` OS user to run the server as. "
                f"{INSTALL_HINT}"
            ) from exc
        os.chown(base_dir, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = ScratchPostgres(bindir=bindir, base_dir=base_dir, port=0, _as_user=as_user)
    initdb = server._run(
        str(bindir / "initdb"),
        "-D",
        str(server.data_dir),
        "-U",
        server.user,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
    )
    if initdb.returncode != 0:
        server.stop()
        raise ScratchPostgresError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
    server._run("mkdir", "-p", str(server.socket_dir))
    last_error = ""
    for _ in range(attempts):
        server.port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {server.socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = server._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(server.data_dir),
            "-l",
            str(server.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode == 0:
            return server
        last_error = f"{started.stdout}\n{started.stderr}\n{server.log_tail()}"
        time.sleep(0.5)
    server.stop()
    raise ScratchPostgresError(f"pg_ctl start failed {attempts} times:\n{last_error}")


def main() -> int:
    try:
        server = start()
    except ScratchPostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with server:
        print(f"PostgreSQL is running: {server.dsn()}  (Ctrl-C stops and deletes it)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
