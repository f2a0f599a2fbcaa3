"""Write the validation report: one self-contained HTML file that opens offline.

Reads the DuckDB file the last `dbt build` wrote (read-only) and draws, with
plotly (its JavaScript embedded in the page):
  - the same-category rate per category, against the min_category_rate line;
  - the threshold sweep: rates and coverage against min_pair_count;
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
import html
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

PASS_COLOUR = "#2a9d8f"
FAIL_COLOUR = "#e76f51"
UNTESTED_COLOUR = "#adb5bd"
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
    sweep: pd.DataFrame | None  # None: the build did not include it (make evaluate does)
    sample: pd.DataFrame
    names_source: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duckdb",
        type=Path,
        default=Path(os.environ.get("DUCKDB_PATH", "recommender.duckdb")),
        help="the DuckDB file dbt built (default: $DUCKDB_PATH or recommender.duckdb)",
    )
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
    args = parser.parse_args(argv)
    if args.per_category < 1:
        parser.error("--per-category must be >= 1")
    return args


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.exists():
        raise ReportError(f"{path} does not exist. Run `make run` (or `dbt build`) first.")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ReportError(
            f"cannot open {path} read-only ({exc}). If dbt is writing it, wait for it to finish."
        ) from exc
    tables = {row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()}
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if missing:
        con.close()
        raise ReportError(
            f"{path} has no {', '.join(missing)}. Rebuild with `make build` "
            "(the validation models came with a newer version of the project)."
        )
    return con


def file_reader(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({quoted})"
    if path.suffix.lower() in {".csv", ".gz", ".tsv"}:
        return f"read_csv({quoted}, header = true, all_varchar = true)"
    raise ReportError(f"--names {path} must be a .csv, .csv.gz, .tsv or .parquet file.")


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
        source, label = file_reader(names), f"names from {names}"
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
    sweep = (
        con.execute("select * from recommendation_threshold_sweep order by min_pair_count").df()
        if "recommendation_threshold_sweep" in tables
        else None
    )
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
    return ReportData(categories, overall_rows.iloc[0].to_dict(), sweep, sample, names_source)


def category_chart(data: ReportData) -> go.Figure:
    threshold = float(data.overall["min_category_rate"])
    min_products = int(data.overall["min_category_products"])
    frame = data.categories
    tested = frame["product_count"] >= min_products
    rate = frame["same_category_rate"].fillna(0.0)
    colours = [
        UNTESTED_COLOUR if not is_tested else PASS_COLOUR if value >= threshold else FAIL_COLOUR
        for is_tested, value in zip(tested, rate, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=frame["category"],
            y=rate,
            marker_color=colours,
            customdata=frame[
                ["product_count", "same_category_count", "products_without_recommendations"]
            ],
            hovertemplate=(
                "<b>%{x}</b><br>same-category rate %{y:.1%}<br>"
                "%{customdata[1]} of %{customdata[0]} products<br>"
                "%{customdata[2]} without recommendations<extra></extra>"
            ),
            text=[f"{value:.0%}" for value in rate],
            textposition="outside",
            name="same-category rate",
        )
    )
    figure.add_hline(
        y=threshold,
        line_dash="dash",
        line_color=FAIL_COLOUR,
        annotation_text=f"min_category_rate {threshold:g}",
        annotation_position="top left",
        annotation_bgcolor="white",
    )
    figure.update_layout(
        title="Share of products whose best recommendation is in the same category",
        yaxis={"title": "same-category rate", "tickformat": ".0%", "range": [0, 1.1]},
        xaxis={"title": f"category (grey: fewer than {min_products} products, not tested)"},
        template="plotly_white",
        height=460,
        margin={"t": 60, "b": 120},
    )
    return figure


def sweep_chart(data: ReportData) -> go.Figure:
    sweep = data.sweep
    figure = go.Figure()
    lines = {
        "micro_same_category_rate": "same-category rate (all products)",
        "macro_same_category_rate": "same-category rate (mean of categories)",
        "coverage": "coverage (products with a recommendation)",
    }
    for column, label in lines.items():
        figure.add_trace(
            go.Scatter(
                x=sweep["min_pair_count"],
                y=sweep[column],
                mode="lines+markers",
                name=label,
                hovertemplate=f"min_pair_count %{{x}}<br>{label}: %{{y:.1%}}<extra></extra>",
            )
        )
    threshold = float(data.overall["min_same_category_rate"])
    figure.add_hline(
        y=threshold,
        line_dash="dash",
        line_color=FAIL_COLOUR,
        annotation_text=f"min_same_category_rate {threshold:g}",
        annotation_position="bottom left",
    )
    current = sweep.loc[sweep["is_current_min_pair_count"], "min_pair_count"]
    if not current.empty:
        figure.add_vline(
            x=int(current.iloc[0]),
            line_dash="dot",
            line_color="#555",
            annotation_text="this build",
            annotation_position="top right",
        )
    figure.update_layout(
        title="Threshold sweep: what a higher min_pair_count buys and costs",
        xaxis={"title": "min_pair_count (log scale)", "type": "log"},
        yaxis={"title": "share", "tickformat": ".0%", "range": [0, 1.05]},
        template="plotly_white",
        height=460,
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 60, "b": 120},
    )
    return figure


def sample_table(data: ReportData) -> str:
    rows = []
    for (category, product_id), group in data.sample.groupby(
        ["category", "product_id"], sort=False
    ):
        first = group.iloc[0]
        items = []
        for rec in group.itertuples():
            if pd.isna(rec.recommended_product_id):
                continue
            name = "" if pd.isna(rec.recommended_name) else f" {html.escape(rec.recommended_name)}"
            css = "same" if rec.is_same_category else "other"
            items.append(
                f'<li class="{css}"><code>{html.escape(rec.recommended_product_id)}</code>{name}'
                f" <small>({html.escape(rec.recommended_category)}, "
                f"cosine {rec.similarity:.3f})</small></li>"
            )
        recs = f"<ol>{''.join(items)}</ol>" if items else "<em>no recommendation</em>"
        name = "" if pd.isna(first.product_name) else html.escape(first.product_name)
        rows.append(
            f"<tr><td>{html.escape(category)}</td><td><code>{html.escape(product_id)}</code>"
            f"<br>{name}</td><td>{int(first.line_count)}</td><td>{recs}</td></tr>"
        )
    return (
        '<table class="sample"><thead><tr><th>category</th><th>product</th>'
        "<th>sales lines</th><th>top recommendations (green: same category)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def summary(data: ReportData) -> str:
    overall = data.overall
    micro, macro = overall["micro_same_category_rate"], overall["macro_same_category_rate"]
    threshold = float(overall["min_same_category_rate"])
    below = data.categories[
        (data.categories["product_count"] >= int(overall["min_category_products"]))
        & (data.categories["same_category_rate"].fillna(0.0) < float(overall["min_category_rate"]))
    ]
    lift, min_lift = overall["same_category_lift"], float(overall["min_same_category_lift"])
    lift_passes = min_lift <= 0 or (not pd.isna(lift) and lift >= min_lift)
    passed = not pd.isna(micro) and micro >= threshold and below.empty and lift_passes
    verdict = '<span class="pass">passes</span>' if passed else '<span class="fail">fails</span>'

    def percent(value: object) -> str:
        return "n/a" if pd.isna(value) else f"{float(value):.1%}"

    failing = "".join(
        f"<li>{html.escape(row.category)}: {percent(row.same_category_rate)}</li>"
        for row in below.itertuples()
    )
    return (
        f"<p>This build {verdict} its validation thresholds. "
        f"Same-category rate: <b>{percent(micro)}</b> over all products "
        f"(min_same_category_rate {threshold:g}), <b>{percent(macro)}</b> as the mean of "
        f"{int(overall['rated_category_count'])} categories; "
        f"<b>{'n/a' if pd.isna(lift) else f'{float(lift):.1f}'}</b> times the rate random "
        f"recommendations would get ({percent(overall['chance_same_category_rate'])}; "
        f"min_same_category_lift {min_lift:g}). Coverage "
        f"<b>{percent(overall['coverage'])}</b>: {int(overall['product_count'])} products have "
        f"recommendations, {int(overall['products_without_recommendations'])} have none "
        f"(min_pair_count {int(overall['min_pair_count'])}).</p>"
        + (f"<p>Categories below min_category_rate:</p><ul>{failing}</ul>" if failing else "")
    )


def render(data: ReportData, source: Path) -> str:
    charts = [
        category_chart(data).to_html(
            full_html=False, include_plotlyjs=False, div_id="category-rates"
        ),
        sweep_chart(data).to_html(full_html=False, include_plotlyjs=False, div_id="sweep")
        if data.sweep is not None
        else "<p><em>Not in this build: `make evaluate` builds the sweep.</em></p>",
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Recommendation validation report</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
.pass {{ color: {PASS_COLOUR}; font-weight: bold; }}
.fail {{ color: {FAIL_COLOUR}; font-weight: bold; }}
table.sample {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
table.sample td, table.sample th {{ border-top: 1px solid #ddd; padding: 0.4rem;
  vertical-align: top; text-align: left; }}
li.same {{ color: {PASS_COLOUR}; }}
li.other {{ color: {FAIL_COLOUR}; }}
small {{ color: #666; }}
</style>
</head>
<body>
<h1>Recommendation validation</h1>
<p><small>From {html.escape(str(source))}, generated {generated}.
The metric is the tutorial's: for each category, the share of its products whose
best recommendation is in the same category.</small></p>
{summary(data)}
<h2>Per category</h2>
{charts[0]}
<h2>Threshold sweep</h2>
<p>Each point is the pipeline rerun with that min_pair_count (pairs bought together fewer
times are ignored): look for where the rate stops improving while coverage keeps falling.</p>
{charts[1]}
<h2>Sample recommendations</h2>
<p><small>The best-selling products of each category
({data.sample["product_id"].nunique()} products); {html.escape(data.names_source)}.</small></p>
{sample_table(data)}
</body>
</html>
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with connect(args.duckdb) as con:
            data = load(con, args.names, args.per_category)
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
