"""Faults in the hand-off, against the real servers: S3 stopping mid-export, two exports at
once, PostgreSQL restarting mid-load.

The rule each test checks: latest.json only ever names a complete, verified export (its
JSON and manifest present, their SHA-256 what the pointer says), nothing it names is
partial, and the live PostgreSQL table is always a whole export, the previous one when a
load fails.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import PROJECT_DIR, s3_client
from moto.server import ThreadedMotoServer
from recommender_io import scratch_postgres
from recommender_io.moto_server import free_port, wait_until_answering
from test_export import export_env
from test_serving import live_state, synthetic, write_export

EXPORT = PROJECT_DIR / "scripts" / "export.py"
LOADER = PROJECT_DIR / "scripts" / "load_postgres.py"


def export_command(duckdb_path: Path, dest: str, stamp: str, *extra: str) -> list[str]:
    command = [sys.executable, str(EXPORT), "--duckdb", str(duckdb_path), "--dest", dest]
    return [*command, "--timestamp", stamp, *extra]


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300, check=False
    )


# --------------------------------------------------------------- what latest.json names


def check_latest(read: Callable[[str], bytes | None], prefix: str = "") -> dict[str, Any]:
    """latest.json names an export whose JSON and manifest are there and match it."""
    latest = json.loads(read(f"{prefix}latest.json") or b"null")
    data = read(latest["export_key"])
    manifest = json.loads(read(latest["manifest_key"]) or b"null")
    assert data is not None, f"latest.json names {latest['export_key']}, which is missing"
    assert sha256(data).hexdigest() == latest["sha256"] == manifest["sha256"]
    assert len(data) == manifest["bytes"]
    json.loads(data)  # whole, not cut short
    return latest


def s3_reader(client: Any, bucket: str) -> Callable[[str], bytes | None]:
    def read(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    return read


def folder_reader(folder: Path) -> Callable[[str], bytes | None]:
    def read(key: str) -> bytes | None:
        path = folder / key
        return path.read_bytes() if path.exists() else None

    return read


def exports_in(keys: list[str]) -> set[str]:
    return {key for key in keys if key.endswith(".json") and "recommendations_" in key}


def no_orphans(keys: list[str]) -> None:
    """Every export JSON has its manifest and every manifest its JSON: losers cleaned up."""
    names = exports_in(keys)
    data = {key.removesuffix(".json") for key in names if not key.endswith(".manifest.json")}
    manifests = {
        key.removesuffix(".manifest.json") for key in names if key.endswith(".manifest.json")
    }
    assert data == manifests, f"half an export left behind: {sorted(data ^ manifests)}"


# ---------------------------------------------------- S3 stopping in the middle of an export


class StoppingProxy:
    """A TCP proxy in front of the S3 server that, when a request for `key` passes
    (a PUT of that key), stops the S3 server: before forwarding it (`at="before"`), or
    after forwarding the headers and half of the body (`at="during"`)."""

    def __init__(self, upstream_port: int, key: str, at: str, stop: Callable[[], None]) -> None:
        self.upstream_port = upstream_port
        self.trigger = f"PUT /{key}".encode()
        self.at = at
        self.stop = stop
        self.triggered = threading.Event()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                client: socket.socket = self.request
                try:
                    upstream = socket.create_connection(("127.0.0.1", proxy.upstream_port))
                except OSError:
                    return  # the server is down: the client sees the connection closed
                with upstream:
                    proxy.pump(client, upstream)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pump(self, client: socket.socket, upstream: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([client, upstream], [], [], 30)
            if not readable:
                return
            for source in readable:
                chunk = source.recv(65536)
                if not chunk:
                    return
                if source is client and not self.triggered.is_set() and self.trigger in chunk:
                    self.triggered.set()
                    if self.at == "during":
                        upstream.sendall(chunk[: chunk.index(b"\r\n\r\n") + 4 + 100])
                    self.stop()
                    return
                (upstream if source is client else client).sendall(chunk)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def restartable_s3() -> Iterator[dict[str, Any]]:
    """moto's ThreadedMotoServer on a fixed port: stopped and started again, it keeps its
    buckets (the state lives in this process), as a real S3 keeps its objects."""
    port = free_port()
    state: dict[str, Any] = {"port": port, "url": f"http://127.0.0.1:{port}"}

    def start() -> None:
        state["server"] = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        state["server"].start()
        assert wait_until_answering(state["url"], timeout=30)

    def stop() -> None:
        state["server"].stop()

    state["start"], state["stop"] = start, stop
    start()
    yield state
    stop()


@pytest.mark.parametrize("at", ["before", "during"])
def test_s3_stopping_mid_export_leaves_latest_on_a_verified_export(
    sample_build: Path, restartable_s3: dict[str, Any], at: str
) -> None:
    bucket = f"stop-{at}-{uuid.uuid4().hex[:12]}"
    client = s3_client(restartable_s3["url"])
    client.create_bucket(Bucket=bucket)
    env = export_env(restartable_s3["url"])
    dest = f"s3://{bucket}/recs/"
    first = run(export_command(sample_build, dest, "2030-01-01_00-00"), env)
    assert first.returncode == 0, first.stderr
    before = check_latest(s3_reader(client, bucket), "recs/")

    # The server stops when the manifest is about to be written ("before"), or while
    # the recommendations themselves are being uploaded ("during").
    key = "recs/recommendations_2030-01-01_00-01" + (
        ".manifest.json" if at == "before" else ".json"
    )
    proxy = StoppingProxy(restartable_s3["port"], f"{bucket}/{key}", at, restartable_s3["stop"])
    try:
        proxy_env = export_env(proxy.url)
        command = export_command(sample_build, dest, "2030-01-01_00-01")
        stopped = run([*command, "--max-attempts", "2", "--timeout", "3"], proxy_env)
    finally:
        proxy.close()
    assert proxy.triggered.is_set(), "the export never reached the request that stops S3"
    assert stopped.returncode == 1
    assert "cannot reach" in stopped.stderr and "Traceback" not in stopped.stderr
    assert "latest.json was not moved" in stopped.stderr

    restartable_s3["start"]()  # S3 is back, with what it had stored
    read = s3_reader(client, bucket)
    assert check_latest(read, "recs/") == before
    # What the stopped export could not remove (S3 was down) is unreferenced, and whole.
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    left = sorted(key for key in exports_in(keys) if "00-01" in key)
    if left:
        assert "could not remove" in stopped.stdout, stopped.stdout
    for key_left in left:
        body = read(key_left)
        assert body is not None and json.loads(body)

    # A later export goes through, and latest.json moves to it.
    again = run(export_command(sample_build, dest, "2030-01-01_00-02"), env)
    assert again.returncode == 0, again.stderr
    assert check_latest(read, "recs/")["export_key"] == "recs/recommendations_2030-01-01_00-02.json"


# ----------------------------------------------------------- two exports at the same time


def race(
    sample_build: Path, dest: str, stamps: tuple[str, str], env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Two exports started together (one tutorial, one rich, so their bytes differ)."""
    commands = [
        export_command(sample_build, dest, stamps[0]),
        export_command(sample_build, dest, stamps[1], "--format", "rich"),
    ]
    processes = [
        subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]  # fmt: skip
    results = []
    for process, command in zip(processes, commands, strict=True):
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return results


def watch(read: Callable[[str], bytes | None], prefix: str, seen: list[Any], stop: threading.Event):
    """Read latest.json and what it names over and over; record any inconsistency."""
    while not stop.is_set():
        try:
            if read(f"{prefix}latest.json") is not None:
                seen.append(check_latest(read, prefix)["export_key"])
        except (AssertionError, json.JSONDecodeError, KeyError, TypeError) as exc:
            seen.append(exc)


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_two_exports_at_once_one_wins_and_latest_stays_whole(
    sample_build: Path, s3_server: str, tmp_path: Path, where: str
) -> None:
    if where == "s3":
        bucket = f"race-{uuid.uuid4().hex[:12]}"
        client = s3_client(s3_server)
        client.create_bucket(Bucket=bucket)
        dest, prefix, read = f"s3://{bucket}/recs/", "recs/", s3_reader(client, bucket)

        def keys() -> list[str]:
            contents = client.list_objects_v2(Bucket=bucket).get("Contents", [])
            return [item["Key"] for item in contents]
    else:
        folder = tmp_path / "exports"
        dest, prefix, read = str(folder), "", folder_reader(folder)

        def keys() -> list[str]:
            return [path.name for path in folder.iterdir()]

    env = export_env(s3_server)
    seen: list[Any] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(read, prefix, seen, stop), daemon=True)
    watcher.start()
    outcomes = []
    try:
        for round_number in range(3):
            # Same name: the conditional create lets one through. Different names: both
            # write their files, the pointer's compare-and-swap lets one through (or both,
            # one after the other, when their checks did not overlap).
            same = f"2030-01-0{round_number + 1}_00-00"
            for stamps in ((same, same), (same[:-2] + "01", same[:-2] + "02")):
                results = race(sample_build, dest, stamps, env)
                winners = [r for r in results if r.returncode == 0]
                assert winners, [r.stderr for r in results]
                for loser in (r for r in results if r.returncode != 0):
                    assert (
                        "already exists" in loser.stderr
                        or "changed by another export" in loser.stderr
                    ), loser.stderr
                    assert "Traceback" not in loser.stderr
                if stamps[0] == stamps[1]:
                    assert len(winners) == 1, "two exports both wrote the same name"
                if len(winners) == 2:
                    # Both moved latest.json: only right if one came after the other, i.e.
                    # one of them found the other's export named when it started.
                    keys_written = [f"{prefix}recommendations_{stamp}.json" for stamp in stamps]
                    assert any(
                        f"now names {other}" in winner.stdout
                        for winner, other in zip(winners, reversed(keys_written), strict=True)
                    ), "both exports replaced the same latest.json: one update was lost"
                latest = check_latest(read, prefix)
                assert any(latest["export_key"] in r.stdout for r in winners)
                no_orphans(keys())
                outcomes.append(len(winners))
    finally:
        stop.set()
        watcher.join(timeout=30)
    problems = [entry for entry in seen if isinstance(entry, Exception)]
    assert not problems, f"latest.json named an incomplete export: {problems[:3]}"
    assert len(seen) > 10, "the watcher did not overlap the exports"
    print(f"winners per race: {outcomes}; latest.json read {len(seen)} times, always whole")


# ------------------------------------------------------- PostgreSQL restarting during a load


@pytest.fixture
def own_postgres() -> Iterator[scratch_postgres.ScratchPostgres]:
    """A server of this test's own: it is restarted under a running load."""
    try:
        server = scratch_postgres.start()
    except scratch_postgres.ScratchPostgresError as exc:
        pytest.fail(f"cannot start the test PostgreSQL server: {exc}")
    with server:
        yield server


def wait_for_copy(dsn: str, loader: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the loader's COPY is running (the new table half full, uncommitted)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as con:
        while time.monotonic() < deadline and loader.poll() is None:
            row = con.execute(
                "select count(*) from pg_stat_activity where application_name = 'load_postgres'"
                " and state = 'active' and query ilike 'copy%'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    pytest.fail("the loader never reached its COPY (finished too fast? make the export bigger)")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_restarting_during_a_load_keeps_the_previous_export(
    own_postgres: scratch_postgres.ScratchPostgres, tmp_path: Path, mode: str
) -> None:
    dsn = own_postgres.dsn()
    first = write_export(tmp_path / "a", synthetic(1000, shift=1), stamp="2026-01-01_00-00")
    loaded = run([sys.executable, str(LOADER), "--source", str(first.parent), "--dsn", dsn])
    assert loaded.returncode == 0, loaded.stderr
    before = live_state(dsn)

    second = write_export(tmp_path / "b", synthetic(300_000, shift=3))  # COPY takes seconds
    command = [sys.executable, str(LOADER), "--source", str(second.parent), "--dsn", dsn]
    loader = subprocess.Popen(
        command, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_copy(dsn, loader)
        own_postgres.restart(mode)
        out, err = loader.communicate(timeout=120)
    finally:
        if loader.poll() is None:
            loader.kill()
    assert loader.returncode == 1, out + err
    assert "lost the connection to PostgreSQL" in err and "Traceback" not in err
    assert "It was rolled back: the live table is unchanged, still export 1" in err
    assert live_state(dsn) == before  # the same rows, bookkeeping and tables
    assert before[0][0] == 1000 * 5

    # Run again once the server is up: the load goes through.
    again = run(command)
    assert again.returncode == 0, again.stderr
    assert live_state(dsn)[0][0] == 300_000 * 5
