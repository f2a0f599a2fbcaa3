"""`make evaluate`: build the hold-out evaluation and the threshold sweep, print them.

Runs scripts/build.py with the `evaluation` selector (the pipeline plus the
tuning models, selectors.yml), so the database is swapped in only when
everything passed, then prints recommendation_evaluation (every measure of
the evaluation_measures var against the popularity baseline, on held-out
orders) and recommendation_threshold_sweep from it. When a validation gate
fails, the tables are printed from the failed build kept for inspection
(`<file>.failed`): comparing measures is how to find one that passes.

Usage: python scripts/evaluate.py [--duckdb PATH] [dbt build arguments, e.g. --vars '{...}']
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[1]

# (header, column, format) of the comparison table.
EVALUATION_COLUMNS = [
    ("hit@k", "hit_rate", "{:.3f}"),
    ("tail hit@k", "long_tail_hit_rate", "{:.3f}"),
    ("recall@k", "recall", "{:.3f}"),
    ("seeds covered", "seed_coverage", "{:.3f}"),
    ("catalogue", "catalogue_coverage", "{:.3f}"),
    ("same-category@1", "same_category_rate", "{:.3f}"),
    ("lift", "same_category_lift", "{:.1f}"),
]
SWEEP_COLUMNS = [
    ("pairs", "pair_count", "{:,}"),
    ("coverage", "coverage", "{:.3f}"),
    ("same-category@1", "micro_same_category_rate", "{:.3f}"),
    ("macro", "macro_same_category_rate", "{:.3f}"),
    ("lift", "same_category_lift", "{:.1f}"),
]


def cell(value: object, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, the first column left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join(
            [first, *(text.rjust(w) for text, w in zip(row[1:], widths[1:], strict=True))]
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def evaluation_report(con: duckdb.DuckDBPyConnection) -> str:
    frame = con.execute("select * from recommendation_evaluation order by config_id").df()
    first = frame.iloc[0]
    rows = []
    for record in frame.to_dict("records"):
        name = record["measure"] + (f" ({record['parameters']})" if record["parameters"] else "")
        marker = " *" if record["is_build_measure"] else ""
        rows.append(
            [name + marker] + [cell(record[column], spec) for _, column, spec in EVALUATION_COLUMNS]
        )
    headers = ["measure (* = this build's)", *(header for header, _, _ in EVALUATION_COLUMNS)]
    split = (
        f"Hold-out evaluation, k = {first['k']}: fitted on {first['training_order_count']:,} "
        f"orders, scored on {first['holdout_order_count']:,} held-out orders "
        f"({first['split_method']} split), {first['seed_count']:,} seeds."
    )
    return split + "\n" + table(headers, rows)


def sweep_report(con: duckdb.DuckDBPyConnection) -> str:
    frame = con.execute("select * from recommendation_threshold_sweep order by min_pair_count").df()
    rows = [
        [str(record["min_pair_count"]) + (" *" if record["is_current_min_pair_count"] else "")]
        + [cell(record[column], spec) for _, column, spec in SWEEP_COLUMNS]
        for record in frame.to_dict("records")
    ]
    headers = ["min_pair_count", *(header for header, _, _ in SWEEP_COLUMNS)]
    return "Threshold sweep (rank-1 on the whole data, this build's measure):\n" + table(
        headers, rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duckdb",
        default=os.environ.get("DUCKDB_PATH", "recommender.duckdb"),
        help="the database to build (default: $DUCKDB_PATH or recommender.duckdb)",
    )
    args, dbt_args = parser.parse_known_args(argv)
    build = subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "scripts" / "build.py"),
            "--duckdb",
            args.duckdb,
            "--selector",
            "evaluation",
            *dbt_args,
        ],
        check=False,
    )
    target = Path(args.duckdb)
    target = target if target.is_absolute() else PROJECT_DIR / target
    database = target
    if build.returncode != 0:
        failed = target.with_name(f"{target.name}.failed")
        if not failed.exists():
            return build.returncode
        print(f"\nThe build failed (above); the tables below come from {failed}.")
        database = failed
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            print()
            print(evaluation_report(con))
            print()
            print(sweep_report(con))
    except duckdb.Error as exc:
        print(f"error: cannot read the evaluation from {database}: {exc}", file=sys.stderr)
        return build.returncode or 1
    return build.returncode


if __name__ == "__main__":
    sys.exit(main())
