"""Real data in every CI run: the instacart slice, built as `make evaluate` builds it.

The slice (../shared/datasets/instacart_slice/sales.csv, 257,190 lines, 21,499
products) is not in the repository: without it these tests skip saying how to get
it, and under CI=true they fail (conftest.require_component). One build of it,
with the project's default vars and the evaluation selector (the default build
plus the hold-out evaluation and the sweep, ~90 s), serves the module: the
tutorial's similarities are checked against scipy, the default gate must pass,
and the hold-out figures must stay those the README publishes. A second build,
with the categories shuffled, must fail the lift gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import PROJECT_DIR, query, require_component, run_dbt

TOLERANCE = 1e-9
SAMPLE_SIZE = 400  # products checked against the reference, drawn with a fixed seed
SAMPLE_SEED = 16


@dataclass
class RealBuild:
    sales: Path
    duckdb_path: Path
    returncode: int
    output: str
    results: dict[str, dict]  # run_results.json by unique_id
    vars: dict  # the vars the build ran with (dbt_project.yml defaults + --vars)


@pytest.fixture(scope="module")
def instacart_build(tmp_path_factory: pytest.TempPathFactory) -> RealBuild:
    sales = require_component("instacart_slice")
    workdir = tmp_path_factory.mktemp("instacart")
    passed = {"sales_path": str(sales)}
    result = run_dbt(["build", "--selector", "evaluation"], workdir, dbt_vars=passed)
    run_results = workdir / "target" / "run_results.json"
    if not run_results.exists():
        pytest.fail(f"dbt build of {sales} wrote no run_results.json:\n{result.stdout[-4000:]}")
    results = {r["unique_id"]: r for r in json.loads(run_results.read_text())["results"]}
    defaults = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    return RealBuild(
        sales=sales,
        duckdb_path=workdir / "recommender.duckdb",
        returncode=result.returncode,
        output=result.stdout + result.stderr,
        results=results,
        vars={**defaults, **passed},
    )


def tutorial_cosines(
    sales: pd.DataFrame, sample: list[str], min_pair_count: int
) -> tuple[list[str], np.ndarray]:
    """(product ids, cosine of each sampled product with every product), scipy only.

    The tutorial's steps: X = orders x products line counts, C = X^T X with a zero
    diagonal, pairs seen fewer than min_pair_count times dropped, cosine of C's rows.
    """
    products, product_codes = np.unique(
        sales["product_id"].to_numpy(dtype=str), return_inverse=True
    )
    _, order_codes = np.unique(sales["order_id"].to_numpy(dtype=str), return_inverse=True)
    x = sp.csr_matrix(
        (np.ones(product_codes.size), (order_codes, product_codes)),
        shape=(int(order_codes.max()) + 1, products.size),
    )
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.data[c.data < min_pair_count] = 0
    c.eliminate_zeros()
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1)).ravel())
    rows = np.searchsorted(products, sample)
    dots = (c[rows] @ c.T).toarray()
    denominator = norms[rows][:, None] * norms[None, :]
    cosines = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
    return list(products), cosines


def test_tutorial_similarities_of_a_sample_match_scipy(instacart_build: RealBuild) -> None:
    build = instacart_build
    model = "model.recommender.product_recommendations"
    assert build.results.get(model, {}).get("status") == "success", build.output[-4000:]
    assert build.vars["max_order_lines"] == 0, "the reference does not leave orders out"
    top_k, floor = int(build.vars["top_k"]), float(build.vars["min_similarity"])

    sales = pd.read_csv(build.sales, dtype=str, usecols=["order_id", "product_id"])
    # The reference reads the file as it is: the build must have used every line of it.
    assert query(build.duckdb_path, "select count(*) from sales_rejected") == [(0,)]
    assert query(build.duckdb_path, "select count(*) from stg_sales__lines") == [(len(sales),)]

    all_products = np.unique(sales["product_id"].to_numpy(dtype=str))
    rng = np.random.default_rng(SAMPLE_SEED)
    sample = sorted(rng.choice(all_products, size=SAMPLE_SIZE, replace=False))
    products, cosines = tutorial_cosines(sales, sample, int(build.vars["min_pair_count"]))
    position = {product: i for i, product in enumerate(products)}

    rows = query(
        build.duckdb_path,
        "select product_id, recommendation_rank, recommended_product_id, similarity"
        " from product_recommendations where list_contains(?, product_id)"
        " order by product_id, recommendation_rank",
        [sample],
    )
    lists: dict[str, list[tuple[int, str, float]]] = {}
    for product, rank, recommended, similarity in rows:
        lists.setdefault(product, []).append((rank, recommended, similarity))

    with_recommendations = 0
    for i, product in enumerate(sample):
        row = cosines[i].copy()
        row[position[product]] = -np.inf  # never itself
        expected = np.sort(row[row > floor])[::-1][:top_k]
        got = lists.get(product, [])
        assert len(got) == len(expected), f"{product}: {len(got)} recs, reference {len(expected)}"
        if not got:
            continue
        with_recommendations += 1
        assert [rank for rank, _, _ in got] == list(range(1, len(got) + 1)), product
        listed = np.array([similarity for _, _, similarity in got])
        # The similarities, rank by rank, are the reference's top values ...
        np.testing.assert_allclose(listed, expected, rtol=0, atol=TOLERANCE, err_msg=product)
        # ... and each listed product really has its listed similarity (ties: any of them).
        for rank, recommended, similarity in got:
            actual = row[position[recommended]]
            assert abs(actual - similarity) <= TOLERANCE, (product, rank, recommended, actual)
        assert len({recommended for _, recommended, _ in got}) == len(got), product
    # The sample is not vacuous: most sampled products have recommendations.
    assert with_recommendations >= SAMPLE_SIZE // 2, with_recommendations


def test_the_default_build_passes_its_gate(instacart_build: RealBuild) -> None:
    build = instacart_build
    failed = {
        unique_id: result["status"]
        for unique_id, result in build.results.items()
        if result["status"] in ("fail", "error", "runtime error", "skipped")
    }
    assert build.returncode == 0 and not failed, (
        f"the default build of {build.sales} fails: {failed}\n{build.output[-3000:]}"
    )


# README "Choosing a measure" publishes make evaluate's figures on this file: a change
# that moves any of them by more than this (they are printed to 3 decimals) fails here.
README_TOLERANCE = 0.0015
README_COLUMNS = [
    "hit_rate",
    "long_tail_hit_rate",
    "recall",
    "catalogue_coverage",
    "same_category_rate",
]


def readme_evaluation_rows() -> list[list[float]]:
    """The figures of the README's comparison table, row by row (config 0, 1, ...)."""
    text = (PROJECT_DIR / "README.md").read_text()
    table = text.split("## Choosing a measure")[1].split("| measure | hit@5 |")[1]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
        rows.append([float(cell) for cell in cells[1 : 1 + len(README_COLUMNS)]])
    return rows


def test_the_evaluation_keeps_the_figures_the_readme_publishes(
    instacart_build: RealBuild,
) -> None:
    build = instacart_build
    model = "model.recommender.recommendation_evaluation"
    assert build.results.get(model, {}).get("status") == "success", build.output[-4000:]
    with duckdb.connect(str(build.duckdb_path), read_only=True) as con:
        table = con.execute("select * from recommendation_evaluation order by config_id").df()
    published = readme_evaluation_rows()
    assert len(published) == len(table), "README rows and evaluation_measures disagree"
    for (_, record), figures in zip(table.iterrows(), published, strict=True):
        for column, figure in zip(README_COLUMNS, figures, strict=True):
            assert abs(record[column] - figure) <= README_TOLERANCE, (
                record["measure"],
                record["parameters"],
                column,
                record[column],
                figure,
            )
    # The issue's claim, kept true: asymmetric_cosine (alpha 0.8) beats the tutorial's
    # measure by >= 25% on hit@5, tail hit@5 and same-category@1, with >= 90% of its
    # catalogue coverage.
    tutorial = table[table["measure"] == "second_order_cosine"].iloc[0]
    better = table[
        (table["measure"] == "asymmetric_cosine")
        & (table["parameters"] == "asymmetric_alpha=0.8, similarity_shrinkage=0")
    ].iloc[0]
    for column in ("hit_rate", "long_tail_hit_rate", "same_category_rate"):
        assert better[column] >= 1.25 * tutorial[column], column
    assert better["catalogue_coverage"] >= 0.9 * tutorial["catalogue_coverage"]
    # And the tutorial's row agrees with the issue's independent figures within 0.02.
    issue = {
        "hit_rate": 0.271,
        "long_tail_hit_rate": 0.126,
        "catalogue_coverage": 0.911,
        "same_category_rate": 0.110,
    }
    for column, figure in issue.items():
        assert abs(tutorial[column] - figure) <= 0.02, (column, tutorial[column])


def test_shuffled_categories_fail_the_lift_gate(instacart_build: RealBuild, tmp_path: Path) -> None:
    sales = pd.read_csv(
        instacart_build.sales, dtype=str, usecols=["order_id", "product_id", "category"]
    )
    mapping = sales.drop_duplicates("product_id").set_index("product_id")["category"]
    shuffled = pd.Series(
        np.random.default_rng(3).permutation(mapping.to_numpy()), index=mapping.index
    )
    sales["category"] = sales["product_id"].map(shuffled)
    path = tmp_path / "shuffled.csv"
    sales.to_csv(path, index=False)
    result = run_dbt(["build"], tmp_path / "run", dbt_vars={"sales_path": str(path)})
    output = result.stdout + result.stderr
    gate = "recommendation_validation_overall_lift_at_least_min_same_category_lift"
    assert result.returncode == 1, output[-4000:]
    assert f"Failure in test {gate}" in output, output[-4000:]
    assert "same_category_lift" in output and "is below min_value 2.0" in output
