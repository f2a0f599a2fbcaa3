"""Benchmark the project's `dbt build` against the tutorial and a plain sparse pipeline.

On the same input files, in one session, each method runs in its own
subprocess (so peak memory is per method):

- dbt (first build: fresh target/, full parse): the project's
  `dbt build --vars '{sales_path: ...}'` as a user runs it the first time,
  into its own temporary DuckDB file and an empty target/ folder, timed end to
  end, dbt's full parse of the project included;
- dbt_rebuild (same command again: dbt's partial parse, as a scheduled
  rebuild): right after `dbt`, the identical command once more with the same
  DUCKDB_PATH, target/ and logs/; the DuckDB file is deleted first, so the
  build starts from an empty database as the first did, but dbt reuses its
  saved parse (target/partial_parse.msgpack), as a user's scheduled rebuild on
  new data at the same path does. Its status says "full parse" if dbt did not
  manage a partial parse (a regression to look into);
- tutorial: the tutorial's pandas + scikit-learn code, verbatim apart from the
  pandas-3 fix for np.fill_diagonal; skipped, with the memory it would need,
  when that exceeds the memory available;
- sparse: a straightforward scipy.sparse + sparse_dot_topn pipeline written
  here, independent of the project's code: the reference for the ratios;
- dbt_spark: `dbt build --target spark` in a local Spark session (docs/spark.md),
  only when pyspark is installed (`make install-spark`) and on inputs of up to
  SPARK_MAX_LINES lines.

For each: wall time, CPU time, peak RSS of the process tree, the ratio of wall
time to the sparse pipeline, and a parity check against the dbt result
(similarities within 1e-9, lists equal up to ties). For both dbt runs, where
the time went (from target/run_results.json): dbt outside its nodes (start-up,
parse, compile: what the partial parse saves), models, tests, slowest nodes.
Methods run in the order dbt, dbt_rebuild, sparse, tutorial, dbt_spark whatever the
order given to --methods; dbt_rebuild needs dbt. The builds run with the
validation gates' thresholds at 0 (BUILD_VARS), so that every build completes.
Inputs are generated with
scripts/generate_sales.py (cached in --data-dir) plus any --sales PATH; by
default the real sets in ../shared/datasets/ are added when present.

Examples:
    python scripts/benchmark.py                       # default sizes, real sets, all methods
    python scripts/benchmark.py --sizes 818k/23.8k/20/134/0.5/0 --no-datasets
    python scripts/benchmark.py --sizes 10k/1k,100k/2k --no-datasets
    python scripts/benchmark.py --sizes 10k/1k --no-datasets --methods dbt,dbt_rebuild,sparse
    python scripts/benchmark.py --sales /data/my_sales.parquet --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from recommender_io.bench.dbt_runs import run_dbt, run_dbt_spark
from recommender_io.bench.inputs import (
    DATASETS_DIR,
    DEFAULT_SIZES,
    count_lines,
    find_inputs,
    parse_size,
    tutorial_memory_needed,
)
from recommender_io.bench.measure import Measurement, run_method
from recommender_io.bench.methods import read_sales, run_child
from recommender_io.bench.parity import parity
from recommender_io.bench.report import (
    dbt_note,
    describe_machine,
    format_row,
    input_label,
    section,
    write_markdown,
)

# The children (`--child METHOD`) are this script again.
SCRIPT = Path(__file__).resolve()
METHODS = ("dbt", "dbt_rebuild", "sparse", "tutorial", "dbt_spark")
DBT_METHODS = ("dbt", "dbt_rebuild")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", DEFAULT_SIZES),
        help=f"generated inputs as LINES/PRODUCTS, comma separated (default {DEFAULT_SIZES}; "
        "'' for none; env BENCH_SIZES)",
    )
    parser.add_argument(
        "--sales", type=Path, action="append", default=[], help="a sales file to add (repeatable)"
    )
    parser.add_argument(
        "--no-datasets",
        action="store_true",
        help=f"do not add the real sets found in {DATASETS_DIR}",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"methods to run, comma separated (default and order in which they run: "
        f"{','.join(METHODS)}); dbt_rebuild reruns dbt's build, so needs dbt",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(
            os.environ.get("BENCH_DATA_DIR", Path(tempfile.gettempdir()) / "recommender-bench")
        ),
        help="where generated inputs are cached and runs write (env BENCH_DATA_DIR)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("DBT_THREADS", os.cpu_count() or 2)),
        help="threads for dbt and sparse_dot_topn (default $DBT_THREADS or the CPU count)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a method is stopped"
    )
    parser.add_argument(
        "--write", type=Path, help="replace the results section of this Markdown file"
    )
    parser.add_argument("--child", choices=["tutorial", "sparse"], help=argparse.SUPPRESS)
    parser.add_argument("--child-input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.size_list = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    requested = {m.strip() for m in args.methods.split(",") if m.strip()}
    unknown = requested - set(METHODS)
    if unknown:
        parser.error(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")
    if "dbt_rebuild" in requested and "dbt" not in requested:
        parser.error("dbt_rebuild reruns the dbt build in its folders: add dbt to --methods")
    # dbt first: the reference for parity, and the build dbt_rebuild repeats.
    args.method_list = [m for m in METHODS if m in requested]
    return args


def benchmark_input(
    args: argparse.Namespace, sales: Path, index: int
) -> tuple[list[str], list[str]]:
    workdir = args.data_dir / "runs" / f"{index:02d}_{sales.parent.name}_{sales.stem}"
    workdir.mkdir(parents=True, exist_ok=True)
    lines = count_lines(sales)
    needed, orders, products = tutorial_memory_needed(sales)
    label = input_label(sales, lines, products)
    print(f"\n== {label}, {orders:,} orders", file=sys.stderr)

    measured: dict[str, Measurement] = {}
    details: dict[str, dict] = {}
    for method in args.method_list:
        if method == "dbt_rebuild" and measured["dbt"].result is None:
            measured[method] = Measurement(method, status="skipped: the first dbt build failed")
        elif method in DBT_METHODS:
            measured[method], details[method] = run_dbt(
                method, sales, workdir, args.threads, args.timeout
            )
        elif method == "dbt_spark":
            measured[method] = run_dbt_spark(sales, lines, workdir, args.timeout)
        elif method == "tutorial" and needed > psutil.virtual_memory().available:
            measured[method] = Measurement(
                method,
                status=f"skipped: needs ~{needed / 2**30:.1f} GiB, "
                f"{psutil.virtual_memory().available / 2**30:.1f} GiB available",
            )
        else:
            measured[method] = run_method(
                SCRIPT, method, sales, workdir, args.threads, args.timeout
            )
        m = measured[method]
        print(
            f"   {method:<11} {m.status:<8} wall {m.wall:7.1f} s  cpu {m.cpu:7.1f} s  "
            f"peak {m.peak_rss / 2**20:8,.0f} MB",
            file=sys.stderr,
        )

    # Everything is compared with the dbt result (or, without it, the sparse one).
    finished = [m for m in measured.values() if m.result is not None]
    if len(finished) > 1:
        reference = finished[0]
        reference.parity = "reference"
        sales_df = read_sales(sales)  # parity recomputes tied similarities from the lines
        for m in finished[1:]:
            m.parity = parity(reference.result, m.result, sales_df)

    sparse = measured.get("sparse")
    rows = [format_row(label, measured[m], sparse) for m in args.method_list]
    notes = [
        dbt_note(label, method, measured[method], found, details.get("dbt"), args.threads)
        for method, found in details.items()
        if "nodes" in found
    ]
    for note in notes:
        print("  " + note, file=sys.stderr)
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args.child, args.child_input, args.child_output, args.threads)
    try:
        files = find_inputs(args.data_dir, args.size_list, not args.no_datasets, args.sales)
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not files:
        print("error: no inputs: give --sizes or --sales", file=sys.stderr)
        return 1
    machine = describe_machine()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"{machine}\n{command.strip()}", file=sys.stderr)
    rows, notes = [], []
    for index, sales in enumerate(files):
        input_rows, input_notes = benchmark_input(args, sales, index)
        rows += input_rows
        notes += input_notes
    results = section(started, machine, command.strip(), args.threads, rows, notes)
    print("\n" + results)
    if args.write:
        write_markdown(args.write, results)
        print(f"\nwrote the results into {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
