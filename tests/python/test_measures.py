"""Similarity measures and the hold-out evaluation against independent references.

Every measure's scores and lists, in the production build and in the
evaluation's training fit, are compared with tests/python/measures_reference.py
(dense numpy written from the formulas); the evaluation's figures are
recomputed in Python from its own definitions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import build, generate_sales, query, run_dbt
from measures_reference import (
    Fit,
    evaluate,
    first_order_fit,
    is_holdout_by_hash,
    second_order_fit,
)

TOLERANCE = 1e-9
NO_GATE = {"min_same_category_lift": 0, "min_same_category_rate": 0, "min_category_rate": 0}
# Repeated lines make the tutorial's pair counts differ from the orders counted
# by the first-order measures: both must be right.
SHAPE = dict(lines=2500, products=120, categories=6, repeat_rate=0.3, seed=11)
TOP_K = 5
EVALUATION_MEASURES = [
    "second_order_cosine",
    "co_occurrence",
    "cosine",
    {"measure": "cosine", "similarity_shrinkage": 20},
    "jaccard",
    {"measure": "lift", "similarity_shrinkage": 1.5},
    {"measure": "asymmetric_cosine", "asymmetric_alpha": 0.8},
    {"measure": "asymmetric_cosine", "asymmetric_alpha": 0.2, "similarity_shrinkage": 10},
    {"measure": "rp3beta", "rp3_alpha": 1.0, "rp3_beta": 0.5},
    {"measure": "rp3beta", "rp3_alpha": 0.5, "rp3_beta": 0.8, "similarity_shrinkage": 3},
    {"measure": "second_order_cosine", "similarity_shrinkage": 3},
]


def reference_fit(sales: pd.DataFrame, entry: str | dict) -> Fit:
    spec = {"measure": entry} if isinstance(entry, str) else dict(entry)
    measure = spec.pop("measure")
    shrinkage = spec.pop("similarity_shrinkage", 0.0)
    if measure == "second_order_cosine":
        return second_order_fit(sales, shrinkage)
    names = {"asymmetric_alpha": "alpha", "rp3_alpha": "rp3_alpha", "rp3_beta": "rp3_beta"}
    return first_order_fit(
        sales, measure, shrinkage, **{names[key]: value for key, value in spec.items()}
    )


def assert_lists_match(got: dict[str, list[tuple[str, float]]], fit: Fit, label: str) -> int:
    """Every score is the reference's score of that pair, and the lists agree up to ties."""
    expected = fit.top_k(TOP_K)
    index = {product_id: i for i, product_id in enumerate(fit.product_ids)}
    assert set(got) == set(expected), f"{label}: products with recommendations differ"
    compared = 0
    for product_id, recommendations in got.items():
        wanted = expected[product_id]
        assert len(recommendations) == len(wanted), f"{label} {product_id}"
        for (recommended, score), (_, wanted_score) in zip(recommendations, wanted, strict=True):
            exact = fit.scores[index[product_id], index[recommended]]
            assert score == pytest.approx(exact, rel=TOLERANCE, abs=TOLERANCE), (
                f"{label}: {product_id} -> {recommended}"
            )
            assert score == pytest.approx(wanted_score, rel=TOLERANCE, abs=TOLERANCE), (
                f"{label}: {product_id} lists {recommended} at {score}, expected {wanted_score}"
            )
            compared += 1
    return compared


def lists_from(rows: list[tuple]) -> dict[str, list[tuple[str, float]]]:
    """(product_id, recommended_id, rank, score) rows, any order -> ranked lists."""
    lists: dict[str, list[tuple[int, str, float]]] = {}
    for product_id, recommended, rank, score in rows:
        lists.setdefault(product_id, []).append((rank, recommended, score))
    ranked = {}
    for product_id, items in lists.items():
        items.sort()
        assert [rank for rank, _, _ in items] == list(range(1, len(items) + 1)), product_id
        ranked[product_id] = [(recommended, score) for _, recommended, score in items]
    return ranked


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("measures")
    path = generate_sales(folder / "sales.csv", **SHAPE)
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def evaluation_build(
    tmp_path_factory: pytest.TempPathFactory, generated: tuple[Path, pd.DataFrame]
) -> Path:
    """`dbt build --selector evaluation` (what make evaluate runs) on the generated sales."""
    path, _ = generated
    workdir = tmp_path_factory.mktemp("evaluation_build")
    result = run_dbt(
        ["build", "--selector", "evaluation"],
        workdir,
        dbt_vars={**NO_GATE, "sales_path": str(path), "evaluation_measures": EVALUATION_MEASURES},
    )
    assert result.returncode == 0, result.stdout[-6000:]
    return workdir / "recommender.duckdb"


def training_and_holdout(duckdb_path: Path, sales: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    holdout_ids = {
        order_id
        for (order_id,) in query(
            duckdb_path, "select order_id from int_evaluation_orders where is_holdout"
        )
    }
    held_out = sales["order_id"].isin(holdout_ids)
    return sales[~held_out], sales[held_out]


@pytest.mark.parametrize(
    "measure_vars",
    [
        {"similarity_measure": "asymmetric_cosine", "asymmetric_alpha": 0.7},
        {"similarity_measure": "rp3beta", "similarity_shrinkage": 2},
        {"similarity_measure": "lift"},
        {"similarity_measure": "second_order_cosine", "similarity_engine": "sql"},
        {
            "similarity_measure": "second_order_cosine",
            "similarity_engine": "sql",
            "similarity_shrinkage": 4,
        },
        {"similarity_measure": "second_order_cosine", "similarity_shrinkage": 4},
    ],
    ids=[
        "asymmetric_cosine",
        "rp3beta-shrinkage",
        "lift",
        "second-order-sql",
        "second-order-shrunk",
        "sparse-shrunk",
    ],
)
def test_a_build_with_each_measure_matches_numpy(
    tmp_path: Path, generated: tuple[Path, pd.DataFrame], measure_vars: dict
) -> None:
    path, sales = generated
    duckdb_path = build(tmp_path, dbt_vars={**NO_GATE, "sales_path": str(path), **measure_vars})
    got = lists_from(
        query(
            duckdb_path,
            "select product_id, recommended_product_id, recommendation_rank, similarity"
            " from product_recommendations",
        )
    )
    entry = {
        "measure": measure_vars["similarity_measure"],
        **{
            k: v
            for k, v in measure_vars.items()
            if k not in ("similarity_measure", "similarity_engine")
        },
    }
    if entry["measure"] == "asymmetric_cosine":
        entry.setdefault("asymmetric_alpha", 0.8)
    assert assert_lists_match(got, reference_fit(sales, entry), str(measure_vars)) > 200
    (measures,) = query(
        duckdb_path, "select distinct similarity_measure from product_recommendations"
    )
    assert measures == (measure_vars["similarity_measure"],)
    overall = query(
        duckdb_path,
        "select similarity_measure, similarity_parameters from recommendation_validation_overall",
    )
    assert overall[0][0] == measure_vars["similarity_measure"]


def test_the_split_holds_out_the_hashed_orders(
    evaluation_build: Path, generated: tuple[Path, pd.DataFrame]
) -> None:
    _, sales = generated
    split = dict(query(evaluation_build, "select order_id, is_holdout from int_evaluation_orders"))
    assert split.keys() == set(sales["order_id"])
    assert split == {order_id: is_holdout_by_hash(order_id, 0.2) for order_id in split}
    share = sum(split.values()) / len(split)
    assert 0.15 < share < 0.25
    assert query(evaluation_build, "select distinct split_method from int_evaluation_orders") == [
        ("order_id_hash",)
    ]


def test_every_evaluated_measure_is_fitted_on_the_training_orders_only(
    evaluation_build: Path, generated: tuple[Path, pd.DataFrame]
) -> None:
    _, sales = generated
    training, _ = training_and_holdout(evaluation_build, sales)
    rows = query(
        evaluation_build,
        "select n.config_id, p.product_id, r.product_id, n.recommendation_rank, n.similarity"
        " from (select * from int_evaluation_neighbours union all"
        "       select * from int_evaluation_neighbours_sparse) as n"
        " join int_products as p on n.product_key = p.product_key"
        " join int_products as r on n.recommended_product_key = r.product_key",
    )
    by_config: dict[int, list[tuple]] = {}
    for config_id, *row in rows:
        by_config.setdefault(config_id, []).append(tuple(row))
    for config_id, entry in enumerate(EVALUATION_MEASURES, start=1):
        fit = reference_fit(training, entry)
        assert assert_lists_match(lists_from(by_config[config_id]), fit, str(entry)) > 200

    # Popularity (config 0): the training orders' best-sellers, for every product but itself.
    counts = training.drop_duplicates(["order_id", "product_id"])["product_id"].value_counts()
    best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: TOP_K + 1]
    popular = lists_from(by_config[0])
    assert popular.keys() == set(sales["product_id"])
    for product_id, recommendations in popular.items():
        expected = [p for p, _ in best if p != product_id][:TOP_K]
        assert [p for p, _ in recommendations] == expected, product_id


def test_evaluation_figures_follow_their_definitions(
    evaluation_build: Path, generated: tuple[Path, pd.DataFrame]
) -> None:
    """recommendation_evaluation recomputed in Python from the fitted lists and the split."""
    _, sales = generated
    training, holdout = training_and_holdout(evaluation_build, sales)
    categories = dict(query(evaluation_build, "select product_id, category from int_products"))
    rows = query(
        evaluation_build,
        "select n.config_id, p.product_id, r.product_id, n.recommendation_rank"
        " from (select * from int_evaluation_neighbours union all"
        "       select * from int_evaluation_neighbours_sparse) as n"
        " join int_products as p on n.product_key = p.product_key"
        " join int_products as r on n.recommended_product_key = r.product_key",
    )
    lists: dict[int, dict[str, list[str]]] = {}
    for config_id, product_id, recommended, _rank in sorted(rows, key=lambda r: (r[0], r[1], r[3])):
        lists.setdefault(config_id, {}).setdefault(product_id, []).append(recommended)
    with duckdb.connect(str(evaluation_build), read_only=True) as con:
        table = con.execute("select * from recommendation_evaluation order by config_id").df()
    assert list(table["config_id"]) == list(range(len(EVALUATION_MEASURES) + 1))
    assert table.loc[0, "measure"] == "popularity"
    checked = 0
    for record in table.to_dict("records"):
        expected = evaluate(lists[record["config_id"]], training, holdout, categories)
        assert record["seed_count"] == expected.seed_count
        for column in (
            "hit_rate",
            "recall",
            "long_tail_hit_rate",
            "seed_coverage",
            "catalogue_coverage",
            "same_category_rate",
        ):
            assert record[column] == pytest.approx(getattr(expected, column), abs=1e-12), (
                record["measure"],
                record["parameters"],
                column,
            )
            checked += 1
    assert checked == 6 * len(table)
    # Seeds are the held-out orders' products, in orders of two or more.
    assert table["seed_count"].iloc[0] > 100
    assert table.loc[1, "is_build_measure"] and not table.loc[2:, "is_build_measure"].any()
    assert table.loc[1, "parameters"] == "similarity_shrinkage=0"
    assert table.loc[8, "parameters"] == "asymmetric_alpha=0.2, similarity_shrinkage=10"


def write_dated_sales(path: Path) -> pd.DataFrame:
    """Ten orders on ten days (one twice, one unreadable), two products each."""
    rows = []
    for day in range(10):
        order_id = f"o{day}"
        date = "not a date" if day == 9 else f"2026-01-{day + 1:02d}"
        for product in (f"p{day % 4}", f"p{(day + 1) % 4}"):
            rows.append([order_id, product, "c" + product[-1], date])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "product_id", "category", "order_date"])
        writer.writerows(rows)
    return pd.DataFrame(rows, columns=["order_id", "product_id", "category", "order_date"])


def test_with_order_dates_the_latest_orders_are_held_out(tmp_path: Path) -> None:
    sales_path = tmp_path / "dated.csv"
    write_dated_sales(sales_path)
    result = run_dbt(
        ["build", "--selector", "evaluation"],
        tmp_path,
        dbt_vars={**NO_GATE, "sales_path": str(sales_path), "evaluation_holdout_share": 0.3},
    )
    assert result.returncode == 0, result.stdout[-6000:]
    rows = query(
        tmp_path / "recommender.duckdb",
        "select order_id, is_holdout, split_method, order_date is null"
        " from int_evaluation_orders order by order_id",
    )
    # 30% of 10 orders: the three latest dates (o6, o7, o8); o9's date is unreadable
    # (null), so it is never taken for a recent order.
    assert {order_id for order_id, holdout, _, _ in rows if holdout} == {"o6", "o7", "o8"}
    assert {method for _, _, method, _ in rows} == {"order_date"}
    assert [order_id for order_id, _, _, no_date in rows if no_date] == ["o9"]


def test_chance_rate_and_lift_follow_the_category_sizes(sample_build: Path) -> None:
    """chance = mean over recommended products of (n_c - 1) / (N - 1); lift = rate / chance."""
    with duckdb.connect(str(sample_build), read_only=True) as con:
        products = con.execute("select product_id, category from int_products").df()
        firsts = con.execute(
            "select product_id, is_same_category from product_recommendations"
            " where recommendation_rank = 1"
        ).df()
        overall = con.execute("select * from recommendation_validation_overall").df().iloc[0]
        per_category = con.execute("select * from recommendation_validation").df()
    sizes = products["category"].value_counts()
    total = len(products)
    category = products.set_index("product_id")["category"]
    chance = np.mean([(sizes[category[p]] - 1) / (total - 1) for p in firsts["product_id"]])
    rate = firsts["is_same_category"].mean()
    assert overall["chance_same_category_rate"] == pytest.approx(chance, abs=1e-12)
    assert overall["same_category_lift"] == pytest.approx(rate / chance, abs=1e-9)
    for row in per_category.itertuples():
        expected_chance = (sizes[row.category] - 1) / (total - 1)
        assert row.chance_same_category_rate == pytest.approx(expected_chance, abs=1e-12)
        assert row.same_category_lift == pytest.approx(
            row.same_category_rate / expected_chance, abs=1e-9
        )
