"""Write the validation report: one self-contained HTML file that opens offline.

Reads a DuckDB file dbt built (read-only), says which build made it and whether
it passed (the verdict the build recorded in it; a failed build is reported, so
you can see why, but a database that records no finished build is refused unless
--allow-failed-validation), and draws, with plotly (its JavaScript embedded in
the page):
  - the same-category rate per category, against the min_category_rate line;
  - the threshold sweep: rates and coverage against min_pair_count, and the
    hold-out comparison of the similarity measures (hit@k against
    same-category@1), when `make evaluate` built them;
  - a sample of products with their top-5 recommendations and names.

Product names are not part of the pipeline (it needs only ids). They come from
--names (a CSV/Parquet file with product_id and product_name, such as the sales
file), or, when the build read the sample seed, from the seed's product_name
column; otherwise the report shows ids only and says so.

Examples:
    python scripts/report.py
    python scripts/report.py --duckdb /tmp/r.duckdb --names sales.csv --output out.html
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from recommender_io.duckdb_files import (
    DuckDBFileError,
    add_duckdb_argument,
    file_reader,
    open_read_only,
)
from recommender_io.report_charts import (
    FAIL_COLOUR,
    PASS_COLOUR,
    category_chart,
    evaluation_chart,
    evaluation_rows,
    sweep_chart,
)
from recommender_io.verdict import OVERRIDE_FLAG, Verdict, read_verdict, refusal

TEMPLATES = Path(__file__).resolve().parent / "recommender_io" / "templates"

REQUIRED_TABLES = (
    "recommendation_validation",
    "recommendation_validation_overall",
    "product_recommendations",
    "int_products",
)


class ReportError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass
class ReportData:
    categories: pd.DataFrame
    overall: dict[str, object]
    sweep: pd.DataFrame | None  # None: not built (make evaluate builds it)
    evaluation: pd.DataFrame | None  # None: not built (make evaluate builds it)
    sample: pd.DataFrame
    names_source: str
    verdict: Verdict | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_duckdb_argument(parser, "the DuckDB file dbt built")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("RECOMMENDER_REPORT_PATH", "reports/recommendations.html")),
        help="HTML file to write (default: $RECOMMENDER_REPORT_PATH or "
        "reports/recommendations.html)",
    )
    parser.add_argument(
        "--names",
        type=Path,
        default=None,
        help="CSV or Parquet file with product_id and product_name columns (e.g. the sales file)",
    )
    parser.add_argument(
        "--per-category",
        type=int,
        default=2,
        help="best-selling products per category in the sample table (default 2)",
    )
    parser.add_argument(
        OVERRIDE_FLAG,
        action="store_true",
        help="report on a database that records no finished build (said on the page)",
    )
    args = parser.parse_args(argv)
    if args.per_category < 1:
        parser.error("--per-category must be >= 1")
    return args


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        con = open_read_only(path)
    except DuckDBFileError as exc:
        raise ReportError(str(exc)) from exc
    tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if missing:
        con.close()
        raise ReportError(
            f"{path} has no {', '.join(missing)}. Rebuild with `make build` "
            "(the validation models came with a newer version of the project)."
        )
    return con


def build_read_the_seed(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the lines dbt read are exactly the raw_sales seed's (which has names)."""
    seed_columns = {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where table_name = 'raw_sales'"
        ).fetchall()
    }
    if not {"order_id", "product_id", "category", "product_name"} <= seed_columns:
        return False
    (read, seed) = con.execute(
        "select (select count(*) from stg_sales__lines), (select count(*) from raw_sales)"
    ).fetchall()[0]
    if read != seed:
        return False
    (different,) = con.execute(
        """
        select count(*) from (
            select order_id, product_id, category from stg_sales__lines
            except all
            select trim(order_id), trim(product_id), trim(category) from raw_sales
        ) as unmatched
        """
    ).fetchall()[0]
    return different == 0


def product_names(con: duckdb.DuckDBPyConnection, names: Path | None) -> tuple[pd.DataFrame, str]:
    """product_id -> product_name, and a sentence saying where the names came from."""
    if names is not None:
        if not names.exists():
            raise ReportError(f"--names {names} does not exist.")
        try:
            source = file_reader(names)
        except ValueError as exc:
            raise ReportError(f"--names {exc}.") from exc
        label = f"names from {names}"
        reader = duckdb.connect()
    else:
        # Seed names only describe the seed's products: use them only when the
        # build read the seed, never for a user's own sales_path file.
        if not build_read_the_seed(con):
            empty = pd.DataFrame({"product_id": pd.Series(dtype=str), "product_name": []})
            return empty, "no product names (pass --names FILE with product_id, product_name)"
        source, label, reader = "raw_sales", "names from the sample seed", con
    try:
        frame = reader.execute(
            "select trim(cast(product_id as varchar)) as product_id, "
            "min(cast(product_name as varchar)) as product_name "
            f"from {source} where product_name is not null group by 1"
        ).df()
    except duckdb.BinderException as exc:
        raise ReportError(
            f"--names {names} needs columns product_id and product_name ({exc})."
        ) from exc
    return frame, label


def load(con: duckdb.DuckDBPyConnection, names: Path | None, per_category: int) -> ReportData:
    categories = con.execute("select * from recommendation_validation order by category").df()
    overall_rows = con.execute("select * from recommendation_validation_overall").df()
    if overall_rows.empty or "min_category_rate" not in overall_rows.columns:
        raise ReportError(
            "recommendation_validation_overall is empty or from an older version of the "
            "project. Rebuild with `make build`."
        )
    tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    sweep = optional_table(con, tables, "recommendation_threshold_sweep", "min_pair_count")
    evaluation = optional_table(con, tables, "recommendation_evaluation", "config_id")
    sample = con.execute(
        """
        with ranked as (
            select
                product_id,
                category,
                line_count,
                row_number() over (
                    partition by category order by line_count desc, product_id
                ) as position
            from int_products
        )
        select
            ranked.category,
            ranked.product_id,
            ranked.line_count,
            recs.recommendation_rank,
            recs.recommended_product_id,
            recs.recommended_category,
            recs.similarity,
            recs.is_same_category
        from ranked
        left join product_recommendations as recs on ranked.product_id = recs.product_id
        where ranked.position <= ?
        order by ranked.category, ranked.line_count desc, ranked.product_id,
            recs.recommendation_rank
        """,
        [per_category],
    ).df()
    names_frame, names_source = product_names(con, names)
    lookup = dict(zip(names_frame["product_id"], names_frame["product_name"], strict=True))
    sample["product_name"] = sample["product_id"].map(lookup)
    sample["recommended_name"] = sample["recommended_product_id"].map(lookup)
    return ReportData(
        categories,
        overall_rows.iloc[0].to_dict(),
        sweep,
        evaluation,
        sample,
        names_source,
        read_verdict(con),
    )


def optional_table(
    con: duckdb.DuckDBPyConnection, tables: set[str], name: str, order_by: str
) -> pd.DataFrame | None:
    """A tuning table `make evaluate` builds (None in a plain build)."""
    if name not in tables:
        return None
    return con.execute(f"select * from {name} order by {order_by}").df()


def sample_products(data: ReportData) -> list[dict[str, Any]]:
    """The sample table's rows: each product with its recommendations, best first."""
    products = []
    for (category, product_id), group in data.sample.groupby(
        ["category", "product_id"], sort=False
    ):
        first = group.iloc[0]
        products.append(
            {
                "category": category,
                "product_id": product_id,
                "name": None if pd.isna(first.product_name) else first.product_name,
                "line_count": int(first.line_count),
                "recommendations": [
                    {
                        "product_id": rec.recommended_product_id,
                        "name": None if pd.isna(rec.recommended_name) else rec.recommended_name,
                        "category": rec.recommended_category,
                        "similarity": float(rec.similarity),
                        "is_same_category": bool(rec.is_same_category),
                    }
                    for rec in group.itertuples()
                    if not pd.isna(rec.recommended_product_id)
                ],
            }
        )
    return products


def below_min_category_rate(data: ReportData) -> pd.DataFrame:
    overall = data.overall
    tested = data.categories["product_count"] >= int(overall["min_category_products"])
    rate = data.categories["same_category_rate"].fillna(0.0)
    return data.categories[tested & (rate < float(overall["min_category_rate"]))]


def percent(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1%}"


def decimal(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.3f}"


def times(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1f}x"


def render(data: ReportData, source: Path) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["percent"] = percent
    environment.filters["decimal"] = decimal
    environment.filters["times"] = times
    charts = {"category": embed(category_chart(data.categories, data.overall), "category-rates")}
    if data.sweep is not None:
        charts["sweep"] = embed(sweep_chart(data.sweep, data.overall), "sweep")
    if data.evaluation is not None:
        charts["evaluation"] = embed(evaluation_chart(data.evaluation), "evaluation")
    return environment.get_template("report.html.j2").render(
        data=data,
        source=str(source),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=get_plotlyjs(),
        colours={"pass": PASS_COLOUR, "fail": FAIL_COLOUR},
        charts=charts,
        below=list(below_min_category_rate(data).itertuples()),
        products=sample_products(data),
        evaluation=evaluation_rows(data.evaluation),
    )


def embed(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with connect(args.duckdb) as con:
            data = load(con, args.names, args.per_category)
        if data.verdict is None or not data.verdict.finished:
            problem = refusal(data.verdict, str(args.duckdb))
            if not args.allow_failed_validation:
                raise ReportError(f"{problem} Or pass {OVERRIDE_FLAG} to report on it anyway.")
            print(f"warning: {problem}", file=sys.stderr)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    page = render(data, args.duckdb)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(args.output)
    print(f"wrote {args.output} ({len(page) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
