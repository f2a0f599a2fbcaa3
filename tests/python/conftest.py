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
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` in the project; returns the finished process (not checked)."""
    workdir.mkdir(parents=True, exist_ok=True)
    duckdb_path = duckdb_path or workdir / "recommender.duckdb"
    command = [str(BIN_DIR / "dbt"), *args]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    return subprocess.run(
        command,
        cwd=PROJECT_DIR,
        env={**dbt_env(workdir, duckdb_path), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
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
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "scripts" / "generate_sales.py"),
            *flags,
            f"--output={path}",
        ],
        check=True,
        capture_output=True,
    )
    return path


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample seed built once with the default (sparse) engine."""
    return build(tmp_path_factory.mktemp("sample_build"))


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
