"""The whole chain on the sample data, on throw-away servers: `make serve-demo`.

    build (dbt, into a temporary DuckDB file)
      -> export (scripts/export.py) to s3://demo/recommendations/ on a local moto S3 server
      -> load (scripts/load_postgres.py) into a throw-away PostgreSQL
      -> query one product the way a web backend would

Both servers listen on 127.0.0.1 only and are stopped, and every file removed,
at the end (also on failure or Ctrl-C). Needs `make install` (dbt, moto_server)
and the PostgreSQL server binaries (apt package postgresql).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from recommender_io import scratch_postgres
from recommender_io.moto_server import MotoServerError, moto_server

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
BUCKET = "demo"
PREFIX = "recommendations/"
# moto accepts any credentials; these never reach AWS (the endpoint is 127.0.0.1).
DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SERVING_QUERY = (
    "select recommendation_rank, recommended_product_id, similarity, recommended_category "
    "from product_recommendations where product_id = %s order by recommendation_rank"
)


class DemoFailed(Exception):
    """A step failed; the message has its output."""


def step(number: int, text: str) -> None:
    print(f"\n[{number}/5] {text}", flush=True)


def run(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DemoFailed(f"{what} failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}")
    return result.stdout


@contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server process on a free 127.0.0.1 port; yields its endpoint URL."""
    try:
        with moto_server(DEMO_CREDENTIALS) as server:
            yield server.url
    except MotoServerError as exc:
        raise DemoFailed(str(exc)) from exc


def create_bucket(endpoint_url: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=DEMO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DEMO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=DEMO_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=BUCKET)


def show_product(dsn: str, product_id: str | None) -> None:
    with psycopg.connect(dsn) as con:
        if product_id is None:
            row = con.execute(
                "select product_id from product_recommendations "
                "where recommendation_rank = 1 order by similarity desc, product_id limit 1"
            ).fetchone()
            product_id = row[0] if row else ""
        category = con.execute(
            "select product_category from product_recommendations where product_id = %s limit 1",
            [product_id],
        ).fetchone()
        rows = con.execute(SERVING_QUERY, [product_id]).fetchall()
        live = con.execute(
            "select export_id, source, loaded_at from recommendation_exports where is_live"
        ).fetchone()
    if not rows:
        raise DemoFailed(f"product {product_id!r} has no recommendations in the served table.")
    print(f"      {SERVING_QUERY.replace('%s', repr(product_id))}")
    print(
        f"      customers who bought {product_id} ({category[0] if category else '?'}) also bought:"
    )
    for rank, recommended, similarity, recommended_category in rows:
        print(
            f"        {rank}. {recommended:<10} {recommended_category or '':<12} {similarity:.3f}"
        )
    if live:
        print(f"      (live export {live[0]}: {live[1]}, loaded {live[2]:%Y-%m-%d %H:%M:%S %Z})")


def demo(workdir: Path, product_id: str | None, built: Path | None = None) -> None:
    env = {
        **os.environ,
        **DEMO_CREDENTIALS,
        "DUCKDB_PATH": str(workdir / "recommender.duckdb"),
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    env.pop("AWS_PROFILE", None)
    if built is None:
        step(1, f"dbt build on the sample data into {env['DUCKDB_PATH']}")
        run([str(BIN_DIR / "dbt"), "build", "--quiet"], env, "dbt build")
        print("      done")
    else:
        step(1, f"using the existing build {built} (no dbt build)")
        env["DUCKDB_PATH"] = str(built)
    step(2, "starting a local S3 server (moto) and exporting to it")
    with moto_s3() as endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
        create_bucket(endpoint)
        source = f"s3://{BUCKET}/{PREFIX}"
        output = run(
            [
                sys.executable,
                "scripts/export.py",
                "--duckdb",
                env["DUCKDB_PATH"],
                "--dest",
                source,
                "--format",
                "rich",
            ],
            env,
            "scripts/export.py",
        )
        print(f"      {output.strip().splitlines()[-1]}  (S3 at {endpoint})")
        step(3, "starting a throw-away PostgreSQL")
        try:
            server = scratch_postgres.start()
        except scratch_postgres.ScratchPostgresError as exc:
            raise DemoFailed(str(exc)) from exc
        with server:
            print(f"      {server.dsn()}")
            step(4, f"loading {source}latest.json's export into PostgreSQL")
            command = [sys.executable, "scripts/load_postgres.py", "--source", source]
            output = run([*command, "--dsn", server.dsn()], env, "scripts/load_postgres.py")
            print(f"      {output.strip()}")
            output = run([*command, "--dsn", server.dsn()], env, "scripts/load_postgres.py")
            print(f"      again: {output.strip()}")
            step(5, "querying one product as a web backend would")
            show_product(server.dsn(), product_id)
    print("\nstopped PostgreSQL and the S3 server; removed their files.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--product", help="product id to show (default: a well-connected one)")
    parser.add_argument(
        "--duckdb",
        type=Path,
        help="skip the build: use this DuckDB file dbt built (it carries its build's verdict)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serve-demo-") as workdir:
        try:
            demo(Path(workdir), args.product, args.duckdb)
        except DemoFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
