"""A local S3 server: moto's server mode as a separate process on 127.0.0.1.

`make serve-demo` and the tests (tests/python/conftest.py) start it the same way.
A process, not moto's in-process ThreadedMotoServer, where the server must be
frozen (SIGSTOP) or killed like a real one; tests that stop and restart a server
keeping its buckets use ThreadedMotoServer directly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


class MotoServerError(RuntimeError):
    """The server could not be started; the message has its log."""


@dataclass
class MotoServer:
    """A running `moto_server` process; url is its endpoint (http://127.0.0.1:PORT)."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answering(url: str, timeout: float = 30.0) -> bool:
    """Poll the server until it answers (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True  # it answers
        except OSError:
            time.sleep(0.2)
    return False


def start_moto_server(env: dict[str, str] | None = None, timeout: float = 30.0) -> MotoServer:
    """Start moto's S3 server (extra env, e.g. INITIAL_NO_AUTH_ACTION_COUNT) and wait for it."""
    if not MOTO_SERVER.exists():
        raise MotoServerError(f"{MOTO_SERVER} is missing: run `make install`.")
    server = None
    for _ in range(3):  # the free port can be taken between probe and bind: try another
        port = free_port()
        handle, log_name = tempfile.mkstemp(prefix="moto_server_", suffix=".log")
        with os.fdopen(handle, "wb") as log:
            process = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        server = MotoServer(f"http://127.0.0.1:{port}", process, Path(log_name))
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if wait_until_answering(server.url, timeout=1):
                return server
        server.stop()
    raise MotoServerError(
        f"moto_server did not start on 127.0.0.1:\n{server.log() if server else ''}"
    )


@contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    """A moto S3 server for the duration of the with-block; its log is removed after."""
    server = start_moto_server(env)
    try:
        yield server
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)
