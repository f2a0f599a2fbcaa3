"""Huge orders: one order of n lines makes n^2 pairs; max_order_lines leaves such orders out.

Ordinary generated sales plus one order of HUGE_ORDER_LINES different products.
By default (max_order_lines 0) the huge order is counted like any other, as in
the tutorial, and the build warns that it dominates the pairs. With
max_order_lines it adds no pairs, is listed in orders_excluded, and its lines
still count as accepted (the reconciliation holds).
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest
from conftest import generate_sales, query, run_dbt

HUGE_ORDER_LINES = 400
MAX_ORDER_LINES = 100
SELECT = [
    "--select",
    "+product_recommendations +sales_rejected +orders_excluded",
    "--exclude",
    "test_type:generic",
]
WARNING = "warn_largest_orders_dominate_pair_counting"


@pytest.fixture(scope="module")
def sales_with_huge_order(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "sales.csv"
    generate_sales(path, lines=3000, products=300, seed=3)
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for i in range(HUGE_ORDER_LINES):
            writer.writerow(["wholesale-1", f"h{i:04d}", "bulk", f"Bulk item {i}"])
    return path


def expected_pair_counts(path: Path, max_order_lines: int) -> dict[tuple[str, str], int]:
    """C[a, b] for a < b from the CSV, in Python, leaving out orders above max_order_lines."""
    orders: dict[str, Counter[str]] = defaultdict(Counter)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            orders[row["order_id"]][row["product_id"]] += 1
    pairs: Counter[tuple[str, str]] = Counter()
    for quantities in orders.values():
        if max_order_lines and sum(quantities.values()) > max_order_lines:
            continue
        for a, b in combinations(sorted(quantities), 2):
            pairs[(a, b)] += quantities[a] * quantities[b]
    return dict(pairs)


def built_pair_counts(db: Path) -> dict[tuple[str, str], int]:
    found = query(
        db,
        "select left_product.product_id, right_product.product_id, pairs.pair_count"
        " from int_product_pair_counts as pairs"
        " inner join int_products as left_product on pairs.product_key = left_product.product_key"
        " inner join int_products as right_product"
        " on pairs.co_product_key = right_product.product_key"
        " where left_product.product_id < right_product.product_id",
    )
    return {(a, b): n for a, b, n in found}


def statuses(workdir: Path) -> dict[str, str]:
    data = json.loads((workdir / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: r["status"] for r in data["results"]}


def build_with(workdir: Path, sales: Path, **dbt_vars: object) -> Path:
    result = run_dbt(["build", *SELECT], workdir, dbt_vars={"sales_path": str(sales), **dbt_vars})
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir / "recommender.duckdb"


def test_by_default_the_huge_order_counts_and_the_build_warns(
    sales_with_huge_order: Path, tmp_path: Path
) -> None:
    db = build_with(tmp_path, sales_with_huge_order)
    assert built_pair_counts(db) == expected_pair_counts(sales_with_huge_order, 0)
    assert query(db, "select count(*) from orders_excluded") == [(0,)]
    assert statuses(tmp_path)[WARNING] == "warn"
    # The effect measured: the one order makes most of the pair-counting work.
    ((huge_pairs, all_pairs),) = query(
        db,
        "select sum(product_pair_count) filter (where order_id = 'wholesale-1'),"
        " sum(product_pair_count) from int_order_sizes",
    )
    assert huge_pairs == HUGE_ORDER_LINES * (HUGE_ORDER_LINES - 1) // 2
    assert huge_pairs > 0.9 * all_pairs
    # Its products are recommended (only) with each other.
    assert query(
        db,
        "select count(*) from product_recommendations"
        " where product_id = 'h0000' and recommended_product_id like 'h%'",
    ) == [(5,)]


def test_max_order_lines_leaves_the_huge_order_out_and_reports_it(
    sales_with_huge_order: Path, tmp_path: Path
) -> None:
    db = build_with(tmp_path, sales_with_huge_order, max_order_lines=MAX_ORDER_LINES)
    assert built_pair_counts(db) == expected_pair_counts(sales_with_huge_order, MAX_ORDER_LINES)
    assert query(db, "select order_id, line_count, exclusion_reason from orders_excluded") == [
        ("wholesale-1", HUGE_ORDER_LINES, f"more than max_order_lines ({MAX_ORDER_LINES}) lines")
    ]
    result_statuses = statuses(tmp_path)
    assert result_statuses[WARNING] == "pass"
    assert result_statuses["assert_sales_lines_reconcile"] == "pass"
    # Its lines are still accepted (not rejected), its products still exist, unpaired.
    assert query(db, "select count(*) from sales_rejected") == [(0,)]
    assert query(db, "select count(*) from int_products where product_id like 'h%'") == [
        (HUGE_ORDER_LINES,)
    ]
    assert query(db, "select count(*) from product_recommendations where product_id like 'h%'") == [
        (0,)
    ]
