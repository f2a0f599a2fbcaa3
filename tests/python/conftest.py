"""Shared fixtures: run the real dbt project into throw-away DuckDB files.

Every dbt run here gets its own DuckDB file, target/ and logs/ folders, so
tests never touch the user's recommender.duckdb and can run beside each other.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from recommender_io import scratch_postgres
from recommender_io.moto_server import MotoServer, MotoServerError
from recommender_io.moto_server import free_port as free_port  # tests import it from here
from recommender_io.moto_server import moto_server as moto_server_process

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DATASETS_DIR = PROJECT_DIR.parent / "shared" / "datasets"


def dbt_env(workdir: Path, duckdb_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DUCKDB_PATH=str(duckdb_path),
        DBT_PROFILES_DIR=str(PROJECT_DIR),
        DBT_TARGET_PATH=str(workdir / "target"),
        DBT_LOG_PATH=str(workdir / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        **extra,
    )
    return env


def run_dbt(
    args: list[str],
    workdir: Path,
    duckdb_path: Path | None = None,
    dbt_vars: dict | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` in the project; returns the finished process (not checked).

    A run past `timeout` seconds (default DBT_TIMEOUT) is killed and fails the test."""
    workdir.mkdir(parents=True, exist_ok=True)
    duckdb_path = duckdb_path or workdir / "recommender.duckdb"
    command = [str(BIN_DIR / "dbt"), *args]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    return run_command(
        command,
        cwd=PROJECT_DIR,
        env={**dbt_env(workdir, duckdb_path), **(env or {})},
        timeout=timeout or DBT_TIMEOUT,
    )


def build(workdir: Path, dbt_vars: dict | None = None, select: str | None = None) -> Path:
    """`dbt build` into workdir/recommender.duckdb; fails the test with dbt's output."""
    args = ["build"] + (["--select", select] if select else [])
    result = run_dbt(args, workdir, dbt_vars=dbt_vars)
    if result.returncode != 0:
        pytest.fail(f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    return workdir / "recommender.duckdb"


def generate_sales(path: Path, **options: object) -> Path:
    """Write sales lines with scripts/generate_sales.py (options as its flags)."""
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
    script = PROJECT_DIR / "scripts" / "generate_sales.py"
    result = run_command([sys.executable, str(script), *flags, f"--output={path}"])
    if result.returncode != 0:
        pytest.fail(f"generate_sales.py {' '.join(flags)} failed:\n{result.stderr[-3000:]}")
    return path


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample seed built once with the default (sparse) engine."""
    return build(tmp_path_factory.mktemp("sample_build"))


@pytest.fixture(scope="session")
def sample_evaluation_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample seed built once as `make evaluate` builds it (pipeline + evaluation + sweep)."""
    workdir = tmp_path_factory.mktemp("sample_evaluation_build")
    result = run_dbt(["build", "--selector", "evaluation"], workdir)
    if result.returncode != 0:
        pytest.fail(f"dbt build --selector evaluation failed:\n{result.stdout[-6000:]}")
    return workdir / "recommender.duckdb"


@pytest.fixture
def dbt_runner(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """run_dbt bound to this test's tmp_path."""

    def runner(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_dbt(args, tmp_path, **kwargs)  # type: ignore[arg-type]

    return runner


# --- PostgreSQL (serving tests) -------------------------------------------------------------
# A real server from the machine's binaries (scripts/scratch_postgres.py: initdb into a temp
# dir as the `postgres` OS user, trust auth, private port on 127.0.0.1, fsync off), started
# once per session and stopped afterwards. Each test gets its own database.


def script_module(name: str) -> ModuleType:
    """Import scripts/<name>.py (the scripts folder is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PROJECT_DIR / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A running throw-away PostgreSQL (a scratch_postgres.ScratchPostgres)."""
    require_component("postgresql")  # skips (fails under CI) saying how to get it
    try:
        server = scratch_postgres.start()
    except scratch_postgres.ScratchPostgresError as exc:
        pytest.fail(f"cannot start the test PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: Any) -> Iterator[str]:
    """DSN of a fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as con:
        con.execute(f'create database "{name}"')
    yield postgres_server.dsn(name)
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as con:
        con.execute(f'drop database if exists "{name}" with (force)')


# --- S3 (export and serving tests) ----------------------------------------------------------
# A real moto S3 server process (`moto_server` from the venv) on a free port of 127.0.0.1,
# started once per session and stopped afterwards. Nothing global is set: tests hand the
# endpoint URL and S3_TEST_CREDENTIALS to their clients and subprocesses explicitly, so no
# test can reach real AWS. Buckets are shared by the session: give each test its own bucket.

S3_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[MotoServer]:
    """A moto S3 server process for the with-block (recommender_io.moto_server)."""
    try:
        with moto_server_process(env) as server:
            yield server
    except MotoServerError as exc:
        pytest.fail(str(exc))


def s3_client(endpoint_url: str, **credentials: str) -> Any:
    """A boto3 S3 client for the test server (test credentials unless given)."""
    import boto3

    keys = {**S3_TEST_CREDENTIALS, **credentials}
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        region_name=keys["AWS_DEFAULT_REGION"],
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a moto S3 server process shared by the session."""
    with moto_server() as server:
        yield server.url


# --- Components and timeouts (CI rules: docs/testing.md) ------------------------------------
# Components from outside the venv (Chromium, PostgreSQL's server binaries, Java, the real
# datasets) are found by components.py, the same lookup .ci/run uses to install what is
# missing. Tests ask require_component(name): locally a missing one skips, saying how to get
# it; under CI=true (or --strict-components) it fails, and so does every other skip, so a green
# CI run has run every test. Subprocesses run through run_command, whose timeout turns a hang
# into a failure that shows the command and its last output.

import shlex  # noqa: E402  (this section keeps its imports, for easy merging)
import signal  # noqa: E402
from contextlib import suppress  # noqa: E402

import components  # noqa: E402

STRICT_ENV_VALUES = {"1", "true", "yes"}
# Seconds; well above what each normally takes (a sample dbt build: ~15 s on a loaded machine,
# the real instacart slice ~40 s). TEST_TIMEOUT_SCALE multiplies them (slow machines).
TIMEOUT_SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE") or 1)
DBT_TIMEOUT = 900 * TIMEOUT_SCALE
SCRIPT_TIMEOUT = 600 * TIMEOUT_SCALE
OUTPUT_TAIL = 4000  # characters of stdout and of stderr shown when a command hangs


class Strictness:
    """Whether a missing component (or any skip) fails the run: set once in pytest_configure."""

    enabled = False
    reason = ""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--strict-components",
        action="store_true",
        help="fail, instead of skipping, tests whose component is missing (and any other skip); "
        "on by default when CI=true",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--strict-components"):
        Strictness.enabled, Strictness.reason = True, "--strict-components"
    elif os.environ.get("CI", "").strip().lower() in STRICT_ENV_VALUES:
        Strictness.enabled, Strictness.reason = True, f"CI={os.environ['CI']}"


def require_component(name: str) -> Path:
    """Where component `name` (see components.COMPONENTS) is; skips the test when it is missing,
    or fails it under CI=true / --strict-components. The message says how to get it."""
    found = components.lookup(name)
    if found.path is not None:
        return found.path
    message = components.missing_message(name)
    if Strictness.enabled:
        pytest.fail(f"{message} ({Strictness.reason}: a missing component fails)", pytrace=False)
    pytest.skip(message)


def strict_skip_message(reason: str) -> str:
    reason = reason.removeprefix("Skipped: ")
    return (
        f"skipped under {Strictness.reason}, where no test may skip: {reason}. "
        "A test that needs something from outside the venv asks "
        "conftest.require_component(...), whose message says how to get it."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if Strictness.enabled:
        report.outcome = "failed"
        report.longrepr = strict_skip_message(reason)
    elif isinstance(longrepr, tuple) and Path(longrepr[0]).name == "conftest.py":
        # require_component skipped: show the test's location, not this file's.
        path, line = item.reportinfo()[:2]
        report.longrepr = (str(path), (line or 0) + 1, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if Strictness.enabled and report.skipped:  # a module-level skip (importorskip, skip(...))
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = strict_skip_message(reason)


def tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def run_command(
    command: list[str],
    *,
    timeout: float = SCRIPT_TIMEOUT,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run command to the end, capturing its output as text (exit code not checked).

    Past `timeout` seconds the command and everything it started (its own process group) is
    killed, and the test fails with the command and the last lines it printed. The output goes
    to files rather than pipes, so a child that outlives the kill cannot stall the test.
    """
    timed_out = False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if process.poll() is None:  # timed out, or the run was interrupted (Ctrl-C)
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if timed_out:
        shown = " ".join(shlex.quote(str(part)) for part in command)
        pytest.fail(
            f"timed out after {timeout:.0f} s and was killed: {shown}\n"
            f"--- its last stdout ---\n{tail(stdout)}\n--- its last stderr ---\n{tail(stderr)}",
            pytrace=False,
        )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
