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
        overall = con.execute(
            "select similarity_measure, similarity_parameters, micro_same_category_rate,"
            " chance_same_category_rate, same_category_lift from recommendation_validation_overall"
        ).fetchall()
        if overall:
            measure, parameters, rate, chance, lift = overall[0]
            print(f"  {'similarity measure':<45} {measure} ({parameters})")
            if rate is not None:
                print(f"  {'best recommendation in the same category':<45} {rate:>12.1%}")
            if lift is not None:
                print(
                    f"  {'... times what random picks would get':<45} {lift:>11.1f}x"
                    f" (chance {chance:.1%})"
                )
        print("Compare the similarity measures on held-out orders: make evaluate (same VARS).")
        print(
            f"Query it read-only: duckdb.connect('{args.duckdb}', read_only=True) in Python, "
            f"or `duckdb -readonly {args.duckdb}` with the DuckDB CLI (README: Example queries)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
