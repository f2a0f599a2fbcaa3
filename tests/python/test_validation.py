"""Offline validation: the marts, the dbt tests that enforce them, the sweep, the report.

The reference here is written from the tutorial's text (pandas pivot, C = X^T X
with a zero diagonal, sklearn's cosine_similarity, best other product per row,
per-category share in the same category), not from the project's SQL.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    PROJECT_DIR,
    build,
    generate_sales,
    query,
    require_component,
    run_command,
    run_dbt,
)
from sklearn.metrics.pairwise import cosine_similarity

SEED = PROJECT_DIR / "seeds" / "raw_sales.csv"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CATEGORY_TEST = "recommendation_validation_category_rate_at_least_min_category_rate"
OVERALL_TEST = "recommendation_validation_overall_rate_at_least_min_same_category_rate"
LIFT_TEST = "recommendation_validation_overall_lift_at_least_min_same_category_lift"
# The absolute gates are off by default (0): these turn them on to see them fail.
ABSOLUTE_GATES = {"min_same_category_rate": 0.7, "min_category_rate": 0.5}
# Cosines this close are the same number computed two ways: a tie. Equal
# cosines can differ in the last bit (2/sqrt(8) vs 1/sqrt(2)), here and in the
# pipeline, so the tutorial (whose sort order at ties is arbitrary) allows any of them.
TIE = 1e-12


def tutorial_best_candidates(sales: pd.DataFrame, min_pair_count: int = 1) -> pd.DataFrame:
    """Each product's best other products (all tied ones; empty when every cosine is 0)."""
    pivot = pd.pivot_table(
        sales, index="order_id", columns="product_id", values="category", aggfunc="count"
    ).fillna(0)
    co_matrix = pivot.T.dot(pivot).to_numpy(copy=True)
    np.fill_diagonal(co_matrix, 0)
    co_matrix[co_matrix < min_pair_count] = 0  # the tutorial's "sample size threshold"
    scores = cosine_similarity(co_matrix)
    np.fill_diagonal(scores, -np.inf)
    products = np.array(pivot.columns)  # sorted product ids
    best = [set(products[row >= row.max() - TIE]) if row.max() > TIE else set() for row in scores]
    return pd.DataFrame({"product_id": products, "candidates": best}).set_index("product_id")


def product_categories(sales: pd.DataFrame) -> pd.Series:
    # The seed has one category per product (checked in seed_sales).
    return sales.groupby("product_id")["category"].first()


def tutorial_validation(sales: pd.DataFrame, best: pd.Series) -> pd.DataFrame:
    """Per category: Count(best rec in same category) / Count(products with a rec).

    best maps product_id -> its best recommendation (NaN/None when it has none).
    """
    category = product_categories(sales)
    frame = pd.DataFrame({"category": category, "best": best.reindex(category.index)})
    frame["has_recommendation"] = frame["best"].notna()
    frame["is_same"] = frame["best"].map(category) == frame["category"]
    grouped = frame.groupby("category")
    return pd.DataFrame(
        {
            "product_count": grouped["has_recommendation"].sum(),
            "same_category_count": grouped["is_same"].sum(),
            "products_without_recommendations": grouped["has_recommendation"].agg(
                lambda has: int((~has).sum())
            ),
        }
    ).assign(same_category_rate=lambda f: f["same_category_count"] / f["product_count"])


def seed_sales() -> pd.DataFrame:
    sales = pd.read_csv(SEED, dtype=str)
    # The reference takes each product's one category; the seed has exactly one.
    assert sales.groupby("product_id")["category"].nunique().max() == 1
    return sales


def mart(duckdb_path: Path, sql: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql).df()


def test_validation_matches_the_tutorial_formula(sample_build: Path) -> None:
    sales = seed_sales()
    candidates = tutorial_best_candidates(sales)["candidates"]
    picked = dict(
        query(
            sample_build,
            "select product_id, recommended_product_id from product_recommendations"
            " where recommendation_rank = 1",
        )
    )
    # The pipeline's best recommendation is one the tutorial would give (ties: any).
    for product_id, tied in candidates.items():
        assert (picked.get(product_id) in tied) if tied else product_id not in picked, product_id
    expected = tutorial_validation(sales, pd.Series(picked, dtype=object))
    actual = mart(sample_build, "select * from recommendation_validation").set_index("category")

    assert sorted(actual.index) == sorted(expected.index)
    for column in ("product_count", "same_category_count", "products_without_recommendations"):
        assert actual[column].to_dict() == expected[column].astype(int).to_dict(), column
    np.testing.assert_allclose(
        actual["same_category_rate"].sort_index(),
        expected["same_category_rate"].sort_index(),
        rtol=0,
        atol=1e-12,
    )

    overall = mart(sample_build, "select * from recommendation_validation_overall").iloc[0]
    assert overall["product_count"] == expected["product_count"].sum()
    assert overall["same_category_count"] == expected["same_category_count"].sum()
    assert overall["micro_same_category_rate"] == pytest.approx(
        expected["same_category_count"].sum() / expected["product_count"].sum(), abs=1e-12
    )
    assert overall["macro_same_category_rate"] == pytest.approx(
        expected["same_category_rate"].mean(), abs=1e-12
    )
    # The sample passes its own thresholds with a visible margin.
    assert overall["micro_same_category_rate"] >= overall["min_same_category_rate"] + 0.1
    assert actual["same_category_rate"].min() >= overall["min_category_rate"] + 0.1


def test_validation_products_hold_every_product_once(sample_build: Path) -> None:
    rows = query(
        sample_build,
        "select count(*), count(distinct product_id), count(*) filter (where has_recommendation)"
        " from recommendation_validation_products",
    )
    (total, distinct, recommended) = rows[0]
    (products,) = query(sample_build, "select count(*) from int_products")[0]
    (with_recs,) = query(
        sample_build, "select count(distinct product_id) from product_recommendations"
    )[0]
    assert total == distinct == products
    assert recommended == with_recs


def shuffled_sales(path: Path, seed: int = 7) -> Path:
    """The sample's sales lines with the product -> category mapping shuffled across products."""
    original = generate_sales(path.with_name("sales.csv"))
    sales = pd.read_csv(original, dtype=str)
    mapping = sales.drop_duplicates("product_id").set_index("product_id")["category"]
    shuffled = pd.Series(
        np.random.default_rng(seed).permutation(mapping.to_numpy()), index=mapping.index
    )
    moved = (shuffled != mapping).mean()
    assert moved > 0.8, f"only {moved:.0%} of products changed category"
    sales["category"] = sales["product_id"].map(shuffled)
    sales.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    return path


def test_shuffled_categories_fail_the_default_build_on_the_lift_gate(tmp_path: Path) -> None:
    sales = shuffled_sales(tmp_path / "shuffled.csv")
    result = run_dbt(["build"], tmp_path / "dbt", dbt_vars={"sales_path": str(sales)})
    output = result.stdout + result.stderr

    assert result.returncode != 0, output[-4000:]
    assert f"Failure in test {LIFT_TEST}" in output, output[-4000:]
    # The absolute gates are off by default: only the lift fails.
    assert f"Failure in test {OVERALL_TEST}" not in output
    assert f"Failure in test {CATEGORY_TEST}" not in output
    # The message says the lift, the threshold, the rate and the chance rate.
    duckdb_path = tmp_path / "dbt" / "recommender.duckdb"
    overall = mart(duckdb_path, "select * from recommendation_validation_overall").iloc[0]
    assert overall["same_category_lift"] < 2.0
    expected = (
        f"same_category_lift {round(overall['same_category_lift'], 4)} is below min_value 2.0"
        f" (micro_same_category_rate {round(overall['micro_same_category_rate'], 4)},"
        f" chance_same_category_rate {round(overall['chance_same_category_rate'], 4)})"
    )
    assert f"minimum_value failed on recommendation_validation_overall: {expected}" in output
    (message,) = query(duckdb_path, f'select message from main_dbt_test__audit."{LIFT_TEST}"')[0]
    assert message == expected

    # The report still works on a failed build, and takes names only from the file given:
    # never from the seed, whose lines this build did not read.
    report = tmp_path / "report.html"
    assert run_report("--duckdb", str(duckdb_path), "--output", str(report)).returncode == 0
    assert "no product names (pass --names FILE" in report.read_text(encoding="utf-8")
    named = run_report("--duckdb", str(duckdb_path), "--names", str(sales), "--output", str(report))
    assert named.returncode == 0, named.stderr
    name = pd.read_csv(sales, dtype=str).sort_values("product_id")["product_name"]
    page = report.read_text(encoding="utf-8")
    assert f"names from {sales}" in page
    assert sum(product_name in page for product_name in name.unique()) >= 20


def test_absolute_gates_fail_naming_the_category_and_the_threshold(tmp_path: Path) -> None:
    sales = shuffled_sales(tmp_path / "shuffled.csv")
    result = run_dbt(
        ["build"], tmp_path / "dbt", dbt_vars={"sales_path": str(sales), **ABSOLUTE_GATES}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert f"Failure in test {CATEGORY_TEST}" in output, output[-4000:]
    assert f"Failure in test {OVERALL_TEST}" in output, output[-4000:]
    # The logged messages name the category, its rate and the threshold.
    assert "minimum_value failed on recommendation_validation: category '" in output
    assert "same_category_rate" in output and "is below min_value 0.5" in output
    assert "micro_same_category_rate" in output and "is below min_value 0.7" in output
    # The failing rows are kept, with the message, for `select *` afterwards.
    duckdb_path = tmp_path / "dbt" / "recommender.duckdb"
    messages = query(
        duckdb_path, f'select message from main_dbt_test__audit."{CATEGORY_TEST}" order by 1'
    )
    assert messages and all("is below min_value 0.5" in message for (message,) in messages)


def test_a_build_without_any_recommendation_fails_saying_nothing_was_measured(
    tmp_path: Path,
) -> None:
    # No pair reaches this min_pair_count: no product gets a recommendation, the lift and
    # the rates are null, and the gates must fail saying why, not "null is below".
    result = run_dbt(["build"], tmp_path, dbt_vars={"min_pair_count": 1_000_000, **ABSOLUTE_GATES})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert f"Failure in test {LIFT_TEST}" in output, output[-4000:]
    assert f"Failure in test {OVERALL_TEST}" in output, output[-4000:]
    assert "same_category_lift is null (nothing was measured), so not min_value 2.0" in output
    assert "micro_same_category_rate is null (nothing was measured), so not min_value 0.7" in output
    assert query(
        tmp_path / "recommender.duckdb", "select count(*) from product_recommendations"
    ) == [(0,)]


def test_sweep_matches_a_separate_build_at_every_threshold(
    sample_evaluation_build: Path, tmp_path: Path
) -> None:
    """Each sweep row equals the validation of a build run with that min_pair_count."""
    sweep = mart(sample_evaluation_build, "select * from recommendation_threshold_sweep")
    sweep = sweep.set_index("min_pair_count")
    assert list(sweep.index) == [1, 2, 3, 5, 10, 20]
    assert sweep["is_current_min_pair_count"].to_dict() == {
        1: True,
        2: False,
        3: False,
        5: False,
        10: False,
        20: False,
    }
    assert sweep["coverage"].is_monotonic_decreasing
    for threshold in sweep.index:
        # The gates off, so the comparison does not depend on a build passing them.
        rebuilt = build(
            tmp_path / str(threshold),
            dbt_vars={"min_pair_count": int(threshold), "min_same_category_lift": 0},
        )
        overall = mart(rebuilt, "select * from recommendation_validation_overall").iloc[0]
        (pairs,) = query(rebuilt, "select count(*) // 2 from int_product_pair_counts")[0]
        row = sweep.loc[threshold]
        assert overall["min_pair_count"] == threshold
        assert row["pair_count"] == pairs, threshold
        for column in ("product_count", "same_category_count", "products_without_recommendations"):
            assert row[column] == overall[column], (threshold, column)
        for column in (
            "micro_same_category_rate",
            "macro_same_category_rate",
            "coverage",
            "chance_same_category_rate",
            "same_category_lift",
        ):
            assert row[column] == pytest.approx(overall[column], abs=1e-12), (threshold, column)


def test_a_plain_build_has_no_tuning_tables(sample_build: Path) -> None:
    tables = {name for (name,) in query(sample_build, "select table_name from duckdb_tables()")}
    assert "product_recommendations" in tables
    assert not tables & {"recommendation_threshold_sweep", "recommendation_evaluation"}


def test_sweep_matches_the_tutorial_at_every_threshold(sample_evaluation_build: Path) -> None:
    """Coverage exactly; same-category counts within what the tutorial's ties allow."""
    sales = seed_sales()
    category = product_categories(sales)
    sweep = mart(sample_evaluation_build, "select * from recommendation_threshold_sweep")
    for row in sweep.itertuples():
        candidates = tutorial_best_candidates(sales, row.min_pair_count)["candidates"]
        outcomes = [
            {category[best] == category[product_id] for best in tied}
            for product_id, tied in candidates.items()
            if tied
        ]
        surely_same = sum(outcome == {True} for outcome in outcomes)
        maybe_same = sum(True in outcome for outcome in outcomes)
        assert row.product_count == len(outcomes), row.min_pair_count
        assert row.products_without_recommendations == len(candidates) - len(outcomes)
        assert surely_same <= row.same_category_count <= maybe_same, row.min_pair_count
        if row.min_pair_count == 1:  # pruning leaves more ties; unpruned, few decide
            assert maybe_same - surely_same <= 3


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, str(PROJECT_DIR / "scripts" / "report.py"), *args], cwd=PROJECT_DIR
    )


def test_report_refuses_a_missing_database(tmp_path: Path) -> None:
    result = run_report("--duckdb", str(tmp_path / "nope.duckdb"), "--output", str(tmp_path / "r"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "make run" in result.stderr
    assert not (tmp_path / "r").exists()


def test_report_opens_offline_in_headless_chromium(
    sample_evaluation_build: Path, tmp_path: Path
) -> None:
    sample_build = sample_evaluation_build  # the report shows the sweep when it was built
    output = tmp_path / "report.html"
    result = run_report("--duckdb", str(sample_build), "--output", str(output))
    assert result.returncode == 0, result.stderr
    page_html = output.read_text(encoding="utf-8")
    assert "<script src=" not in page_html  # plotly.js is inline: opens offline
    (best_seller,) = query(
        sample_build, "select product_id from int_products order by line_count desc limit 1"
    )[0]
    names = seed_sales().drop_duplicates("product_id").set_index("product_id")["product_name"]
    assert names[best_seller] in page_html  # names come from the seed

    chromium = require_component("chromium")  # fails under CI=true when missing
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(output.as_uri())
            page.wait_for_selector("#sweep svg.main-svg", timeout=30_000)
            bars = page.locator("#category-rates g.trace.bars g.point").count()
            lines = page.locator("#sweep g.trace.scatter").count()
            svgs = page.locator("svg.main-svg").count()
            rows = page.locator("table.sample tbody tr").count()
            page.wait_for_selector("#evaluation svg.main-svg", timeout=30_000)
            # One point per measure config and the popularity baseline, numbered as the table.
            points = page.locator("#evaluation g.trace.scatter g.points path.point").count()
            labels = page.locator(
                "#evaluation g.trace.scatter g.textpoint text"
            ).all_text_contents()
            evaluation_rows = page.locator("table.evaluation tbody tr").all_inner_texts()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    categories = query(sample_build, "select count(*) from recommendation_validation")[0][0]
    assert problems == []
    assert [url for url in requests if not url.startswith("file:")] == []
    assert bars == categories
    assert lines == 3  # micro rate, macro rate, coverage
    assert svgs >= 4  # plotly draws two svg layers per chart
    assert rows == 2 * categories
    configs = query(sample_build, "select config_id, measure from recommendation_evaluation")
    assert points == len(configs) >= 10
    assert sorted(int(label) for label in labels) == sorted(config_id for config_id, _ in configs)
    assert len(evaluation_rows) == len(configs)
    assert evaluation_rows[0].split()[:2] == ["0", "popularity"]
    assert "(this build)" in evaluation_rows[1]
    assert (tmp_path / "report.png").stat().st_size > 50_000
