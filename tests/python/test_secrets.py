"""Secrets stay secret: S3 keys and database passwords appear in nothing a run writes.

One real run with secrets in its environment and on its command lines: the
build (scripts/build.py), the HTML report, the export to a real moto S3 server
(and a failing one), the load into a real PostgreSQL (and a failing one). Then
every file the run wrote (target/, logs/, the DuckDB file, the report), every
line it printed, every S3 object and every PostgreSQL row is searched for each
secret. Parts whose script does not exist yet are skipped, saying so.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_DIR, dbt_env, free_port, run_command, s3_client

TOKEN = uuid.uuid4().hex[:12]
S3_SECRETS = {
    "AWS_ACCESS_KEY_ID": f"AKIASECRET{TOKEN.upper()}",
    "AWS_SECRET_ACCESS_KEY": f"s3-secret-key-{TOKEN}",
    "AWS_SESSION_TOKEN": f"s3-session-token-{TOKEN}",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PG_PASSWORD = f"pg-password-{TOKEN}"
SECRETS = [S3_SECRETS["AWS_ACCESS_KEY_ID"], S3_SECRETS["AWS_SECRET_ACCESS_KEY"]]
SECRETS += [S3_SECRETS["AWS_SESSION_TOKEN"], PG_PASSWORD]
SCRIPTS = PROJECT_DIR / "scripts"


def with_password(dsn: str, password: str) -> str:
    """postgresql://user@host:port/db -> postgresql://user:password@host:port/db"""
    scheme, rest = dsn.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


@dataclass
class SecretRun:
    workdir: Path
    outputs: dict[str, str] = field(default_factory=dict)  # step -> stdout + stderr
    skipped: list[str] = field(default_factory=list)
    bucket: str = ""
    endpoint: str = ""
    pg_dsn: str = ""


def leaks(data: bytes) -> list[str]:
    return [secret for secret in SECRETS if secret.encode() in data]


def step(run: SecretRun, name: str, command: list[str], env: dict[str, str]) -> int:
    result = run_command(command, cwd=PROJECT_DIR, env=env)
    run.outputs[name] = result.stdout + result.stderr
    return result.returncode


@pytest.fixture(scope="module")
def secret_run(
    tmp_path_factory: pytest.TempPathFactory, s3_server: str, postgres_server: Any
) -> SecretRun:
    import psycopg

    run = SecretRun(workdir=tmp_path_factory.mktemp("secret_run"), endpoint=s3_server)
    db = run.workdir / "recommender.duckdb"
    pg_url = with_password(postgres_server.dsn(), PG_PASSWORD)
    env = {
        **dbt_env(run.workdir, db),
        **S3_SECRETS,
        "DATABASE_URL": pg_url,
        "PGPASSWORD": PG_PASSWORD,
        "AWS_ENDPOINT_URL": s3_server,
    }
    code = step(run, "build", [sys.executable, str(SCRIPTS / "build.py")], env)
    assert code == 0, run.outputs["build"][-4000:]

    if (SCRIPTS / "report.py").exists():
        report = [sys.executable, str(SCRIPTS / "report.py"), "--output"]
        code = step(run, "report", [*report, str(run.workdir / "report.html")], env)
        assert code == 0, run.outputs["report"][-3000:]
    else:
        run.skipped.append("report: scripts/report.py does not exist yet")

    if (SCRIPTS / "export.py").exists():
        run.bucket = f"secrets-{TOKEN}"
        s3_client(s3_server, **S3_SECRETS).create_bucket(Bucket=run.bucket)
        export = [sys.executable, str(SCRIPTS / "export.py"), "--dest", f"s3://{run.bucket}/recs/"]
        code = step(run, "export", export, env)
        assert code == 0, run.outputs["export"][-3000:]
        unreachable = f"http://127.0.0.1:{free_port()}"
        failing = [*export, "--endpoint-url", unreachable, "--max-attempts", "1", "--timeout", "2"]
        # It must fail where meant (the unreachable endpoint), not on its arguments.
        code = step(run, "export (failing)", failing, env)
        output = run.outputs["export (failing)"]
        assert code == 1, output[-3000:]
        assert "export refused: nothing replaced the previous export" in output, output[-3000:]
        assert unreachable.removeprefix("http://") in output, output[-3000:]
    else:
        run.skipped.append("export: scripts/export.py does not exist yet")

    if (SCRIPTS / "load_postgres.py").exists() and run.bucket:
        name = f"secrets_{TOKEN}"
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as con:
            con.execute(f'create database "{name}"')
        run.pg_dsn = with_password(postgres_server.dsn(name), PG_PASSWORD)
        load = [sys.executable, str(SCRIPTS / "load_postgres.py"), "--source"]
        load += [f"s3://{run.bucket}/recs/", "--dsn", run.pg_dsn]
        code = step(run, "load", load, env)
        assert code == 0, run.outputs["load"][-3000:]
        wrong_port = with_password(f"postgresql://nobody@127.0.0.1:{free_port()}/x", PG_PASSWORD)
        failing = [*load[:-1], wrong_port, "--connect-timeout", "2"]
        code = step(run, "load (failing)", failing, env)
        output = run.outputs["load (failing)"]
        assert code == 1, output[-3000:]  # argparse errors exit 2
        assert "error: cannot connect to PostgreSQL at" in output, output[-3000:]
    else:
        run.skipped.append("load: scripts/load_postgres.py (or the export) does not exist yet")
    return run


def test_the_scan_finds_a_planted_secret(tmp_path: Path) -> None:
    # Shows the searches below can fail.
    planted = tmp_path / "log.txt"
    planted.write_text(f"connecting with {PG_PASSWORD}\n")
    assert leaks(planted.read_bytes()) == [PG_PASSWORD]


def test_no_secret_in_any_file_the_run_wrote(secret_run: SecretRun) -> None:
    files = [p for p in secret_run.workdir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"manifest.json", "run_results.json", "dbt.log", "recommender.duckdb"} <= names
    found = {str(p): leaks(p.read_bytes()) for p in files}
    assert {path: secrets for path, secrets in found.items() if secrets} == {}


def test_no_secret_in_what_the_run_printed(secret_run: SecretRun) -> None:
    assert secret_run.outputs
    found = {step: leaks(text.encode()) for step, text in secret_run.outputs.items()}
    assert {step: secrets for step, secrets in found.items() if secrets} == {}
    for skipped in secret_run.skipped:
        print(f"skipped: {skipped}")


def test_no_secret_in_the_exported_objects(secret_run: SecretRun) -> None:
    if not secret_run.bucket:
        pytest.skip("scripts/export.py does not exist yet")
    client = s3_client(secret_run.endpoint, **S3_SECRETS)
    objects = client.list_objects_v2(Bucket=secret_run.bucket).get("Contents", [])
    assert objects, "the export wrote nothing"
    for item in objects:
        response = client.get_object(Bucket=secret_run.bucket, Key=item["Key"])
        body = response["Body"].read() + repr(response.get("Metadata", {})).encode()
        assert leaks(body) == [], item["Key"]


def test_no_secret_in_postgresql(secret_run: SecretRun) -> None:
    if not secret_run.pg_dsn:
        pytest.skip("scripts/load_postgres.py or scripts/export.py does not exist yet")
    import psycopg

    with psycopg.connect(secret_run.pg_dsn) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert tables, "the loader created no table"
        for schema, table in tables:
            rows = con.execute(f'select t::text from "{schema}"."{table}" as t').fetchall()
            text = "\n".join(row[0] for row in rows).encode()
            assert leaks(text) == [], f"{schema}.{table}"
