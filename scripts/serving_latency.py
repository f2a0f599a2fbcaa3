"""Measure the serving query's latency: p50/p99 over many random product ids.

    python scripts/serving_latency.py --dsn postgresql://...          # a loaded database
    python scripts/serving_latency.py --scratch --source exports/     # throw-away server
    python scripts/serving_latency.py --scratch --synthetic 1000000   # 1M products x 5

The query is the one a web backend runs (docs/serving.md):

    select recommended_product_id from product_recommendations
    where product_id = %s order by recommendation_rank

run from one client connection, prepared, one product at a time, timed from
sending the query to having all its rows in Python (so it includes the
round trip over 127.0.0.1). With --scratch it starts a throw-away server the
way the tests do (scripts/scratch_postgres.py), loads --source into it with
scripts/load_postgres.py, measures, and removes the server. --synthetic N
loads a generated tutorial-format export instead: N products, each
recommending the next 5 in id order (for scale, not realism).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from recommender_io import scratch_postgres
from recommender_io.export_format import dumps
from recommender_io.postgres_dsn import redact

LOADER = Path(__file__).resolve().parent / "load_postgres.py"

SERVING_QUERY = (
    "select recommended_product_id from {table} where product_id = %s order by recommendation_rank"
)


def percentile(sorted_values: list[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def measure(dsn: str, schema: str, queries: int, seed: int) -> dict[str, Any]:
    """Time `queries` lookups of random product ids; returns the figures (milliseconds)."""
    table = sql.SQL("{}.{}").format(
        sql.Identifier(schema), sql.Identifier("product_recommendations")
    )
    statement = sql.SQL(SERVING_QUERY).format(table=table)
    with psycopg.connect(dsn, autocommit=True) as con:
        product_ids = [
            row[0]
            for row in con.execute(sql.SQL("select distinct product_id from {}").format(table))
        ]
        rows = con.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()
        if not product_ids:
            raise SystemExit(f"error: {schema}.product_recommendations is empty; load it first.")
        picks = random.Random(seed).choices(product_ids, k=queries)
        for product_id in picks[: min(500, queries)]:  # warm up: prepare, fill caches
            con.execute(statement, [product_id], prepare=True).fetchall()
        timings: list[float] = []
        for product_id in picks:
            started = time.perf_counter()
            con.execute(statement, [product_id], prepare=True).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "queries": queries,
        "products": len(product_ids),
        "rows": rows[0] if rows else 0,
        "p50_ms": percentile(timings, 0.50),
        "p90_ms": percentile(timings, 0.90),
        "p99_ms": percentile(timings, 0.99),
        "max_ms": timings[-1],
        "mean_ms": statistics.fmean(timings),
    }


def write_synthetic_export(folder: Path, products: int) -> Path:
    """A tutorial-format export (JSON, manifest, latest.json) of `products` products."""
    ids = [f"p{n:07d}" for n in range(products)]
    top_k = min(5, products - 1)
    data = {
        ids[n]: ";".join(ids[(n + k) % products] for k in range(1, top_k + 1))
        for n in range(products)
    }
    raw = json.dumps(data, indent=4).encode()
    sha = hashlib.sha256(raw).hexdigest()
    name = "recommendations_2000-01-01_00-00"
    (folder / f"{name}.json").write_bytes(raw)
    manifest = {
        "created_at": "2000-01-01T00:00:00+00:00",
        "export_key": f"{name}.json",
        "format": "tutorial",
        "source_duckdb": "synthetic (scripts/serving_latency.py --synthetic)",
        "row_count": products * top_k,
        "product_count": products,
        "vars": {"top_k": top_k},
        "validation": None,
        "sha256": sha,
        "bytes": len(raw),
        "project_version": "synthetic",
        # No build made it: loaded with --allow-failed-validation (main).
        "build": None,
        "allowed_failed_validation": True,
    }
    (folder / f"{name}.manifest.json").write_bytes(dumps(manifest))
    latest = {"export_key": f"{name}.json", "manifest_key": f"{name}.manifest.json"}
    (folder / "latest.json").write_bytes(
        dumps({**latest, "sha256": sha, "created_at": manifest["created_at"]})
    )
    return folder


def report(figures: dict[str, Any]) -> str:
    return (
        f"{figures['queries']} lookups of random product ids ({figures['products']} products, "
        f"{figures['rows']} rows): p50 {figures['p50_ms']:.3f} ms, p90 {figures['p90_ms']:.3f} "
        f"ms, p99 {figures['p99_ms']:.3f} ms, max {figures['max_ms']:.3f} ms, "
        f"mean {figures['mean_ms']:.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="$DATABASE_URL")
    parser.add_argument("--schema", default=os.environ.get("RECOMMENDER_PG_SCHEMA", "public"))
    parser.add_argument("--queries", type=int, default=10_000, help="lookups (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the product ids")
    parser.add_argument(
        "--scratch",
        action="store_true",
        help="start a throw-away server, load --source into it, measure, remove it",
    )
    parser.add_argument("--source", help="with --scratch: the export folder or s3:// prefix")
    parser.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help="with --scratch: a generated export of N products",
    )
    args = parser.parse_args(argv)
    if args.scratch:
        if not args.source and not args.synthetic:
            parser.error("--scratch needs --source (an export folder or s3://...) or --synthetic N")
        if args.synthetic:
            workdir = tempfile.TemporaryDirectory(prefix="serving-latency-")
            args.source = str(write_synthetic_export(Path(workdir.name), args.synthetic))
        try:
            server = scratch_postgres.start()
        except scratch_postgres.ScratchPostgresError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        with server:
            dsn = server.dsn()
            load = [sys.executable, str(LOADER), "--source", args.source, "--dsn", dsn]
            if args.synthetic:
                load.append("--allow-failed-validation")  # generated: no build recorded it
            loaded = subprocess.run(load, check=False)
            if loaded.returncode != 0:
                return loaded.returncode
            print(report(measure(dsn, args.schema, args.queries, args.seed)))
        return 0
    if not args.dsn:
        parser.error("--dsn is required (or set DATABASE_URL, or use --scratch --source)")
    try:
        print(report(measure(args.dsn, args.schema, args.queries, args.seed)))
    except psycopg.Error as exc:
        print(f"error: {redact(str(exc), args.dsn)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
