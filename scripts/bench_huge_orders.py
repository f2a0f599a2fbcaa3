"""Measure what one huge order costs: the sample sales plus one order of n lines.

For each n, runs `dbt build` of the pipeline (no tests) into a scratch DuckDB
file and prints the pair rows the order adds and the time of the heavy models,
with and without --max-order-lines. Timings depend on the machine and its load.

Usage: python scripts/bench_huge_orders.py --sizes 0 1000 2000 3000 [--max-order-lines 500]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from recommender_io.bench.dbt_runs import dbt_env, dbt_executable

PROJECT_DIR = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_DIR / "seeds" / "raw_sales.csv"
HEAVY_MODELS = ("int_product_pair_counts", "int_product_neighbours_sparse")


def write_sales(path: Path, huge_order_lines: int) -> None:
    with SAMPLE.open(newline="") as source, path.open("w", newline="") as target:
        target.write(source.read())
        writer = csv.writer(target, lineterminator="\n")
        for i in range(huge_order_lines):
            writer.writerow(["huge-order", f"h{i:05d}", "bulk", f"Bulk item {i}"])


def build(workdir: Path, sales: Path, max_order_lines: int) -> dict[str, float]:
    env = dbt_env(workdir, DUCKDB_PATH=str(workdir / "bench.duckdb"))
    dbt_vars = json.dumps({"sales_path": str(sales), "max_order_lines": max_order_lines})
    started = time.perf_counter()
    result = subprocess.run(
        [dbt_executable(), "run", "--select", "+product_recommendations", "--vars", dbt_vars],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"dbt run failed:\n{result.stdout[-3000:]}")
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    times = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}
    with duckdb.connect(str(workdir / "bench.duckdb"), read_only=True) as con:
        pair_rows = con.execute("select count(*) from int_product_pair_counts").fetchall()[0][0]
    return {"pair_rows": pair_rows, "dbt_run_s": elapsed, **{m: times[m] for m in HEAVY_MODELS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 2000, 3000])
    parser.add_argument(
        "--max-order-lines",
        type=int,
        default=int(os.environ.get("MAX_ORDER_LINES", "0")),
        help="also build with this max_order_lines (0: only the default)",
    )
    args = parser.parse_args(argv)
    print("| order lines | max_order_lines | pair rows (C) | pair counts s | top-k s | dbt run s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for limit in sorted({0, args.max_order_lines}):
            with tempfile.TemporaryDirectory(prefix="bench_huge_") as scratch:
                workdir = Path(scratch)
                sales = workdir / "sales.csv"
                write_sales(sales, size)
                try:
                    figures = build(workdir, sales, limit)
                except RuntimeError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 1
            print(
                f"| {size:,} | {limit} | {figures['pair_rows']:,} "
                f"| {figures['int_product_pair_counts']:.1f} "
                f"| {figures['int_product_neighbours_sparse']:.1f} | {figures['dbt_run_s']:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
