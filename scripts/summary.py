"""Print a short summary of what the last `dbt build` put in the DuckDB file.

Reads the file named by DUCKDB_PATH (default: recommender.duckdb), read-only.
"""

from __future__ import annotations

import argparse
import sys

import duckdb
from recommender_io.duckdb_files import add_duckdb_argument

QUERIES = {
    "sales lines read": "select count(*) from stg_sales__lines",
    "sales lines rejected (see sales_rejected)": "select count(*) from sales_rejected",
    "orders": "select count(distinct order_key) from int_order_product_counts",
    "products": "select count(*) from int_products",
    "product pairs bought together": "select count(*) // 2 from int_product_pair_counts",
    "products with recommendations": (
        "select count(distinct product_id) from product_recommendations"
    ),
    "recommendations": "select count(*) from product_recommendations",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_duckdb_argument(parser, "the DuckDB file dbt built")
    args = parser.parse_args(argv)
    if not args.duckdb.exists():
        print(f"error: {args.duckdb} does not exist. Run `make run` first.", file=sys.stderr)
        return 1
    try:
        con = duckdb.connect(str(args.duckdb), read_only=True)
    except duckdb.Error as exc:
        print(f"error: cannot open {args.duckdb} read-only: {exc}", file=sys.stderr)
        return 1
    with con:
        print(f"Built {args.duckdb} ({args.duckdb.stat().st_size / 1e6:.1f} MB):")
        for label, sql in QUERIES.items():
            try:
                (value,) = con.execute(sql).fetchall()[0]
            except duckdb.CatalogException:
                table = sql.split()[-1]
                print(f"error: {table} is missing. Run `make run` first.", file=sys.stderr)
                return 1
            print(f"  {label:<45} {value:>12,}")
        rate = con.execute(
            "select avg(case when is_same_category then 1.0 else 0.0 end) "
            "from product_recommendations where recommendation_rank = 1"
        ).fetchall()[0][0]
        if rate is not None:
            print(f"  {'best recommendation in the same category':<45} {rate:>12.1%}")
        print(
            f"Query it read-only: duckdb.connect('{args.duckdb}', read_only=True) in Python, "
            f"or `duckdb -readonly {args.duckdb}` with the DuckDB CLI (README: Example queries)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
