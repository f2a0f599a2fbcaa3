"""The core pipeline against an independent implementation of the tutorial.

Each case generates sales of some shape, runs the real `dbt build` on it via the
sales_path var, and compares product_recommendations with tests/python/reference.py:
every similarity within 1e-9, every ranked list equal up to ties.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import PROJECT_DIR, build, generate_sales, query, run_dbt
from reference import Reference, top_k, tutorial_reference

TOLERANCE = 1e-9
# These tests check the numbers, not the data's quality: shapes with weak
# category structure must still build (the validation gate has its own tests).
# assert_pair_counts_are_consistent's problem for a product whose row and column of C differ.
ASYMMETRIC = "row and column of C differ: a count not mirrored, a pair missing or repeated one way"
NO_GATE = {"min_same_category_lift": 0, "min_same_category_rate": 0, "min_category_rate": 0}
MART_COLUMNS = (
    "product_id, recommendation_rank, recommended_product_id, similarity, pair_count, "
    "product_category, recommended_category, is_same_category"
)


def mart_lists(duckdb_path: Path) -> dict[str, list[tuple[str, float, int]]]:
    rows = query(
        duckdb_path,
        "select product_id, recommended_product_id, similarity, pair_count, recommendation_rank "
        "from product_recommendations order by product_id, recommendation_rank",
    )
    lists: dict[str, list[tuple[str, float, int]]] = {}
    for product_id, recommended, similarity, pair_count, rank in rows:
        lists.setdefault(product_id, []).append((recommended, similarity, pair_count))
        assert rank == len(lists[product_id]), f"ranks of {product_id} are not 1..n"
    return lists


def assert_matches_reference(duckdb_path: Path, reference: Reference, k: int = 5) -> None:
    lists = mart_lists(duckdb_path)
    checked = 0
    for product_id in reference.product_ids:
        expected = top_k(reference, product_id, k)
        got = lists.get(product_id, [])
        assert len(got) == len(expected), f"{product_id}: {len(got)} recs, expected {len(expected)}"
        i = reference.index(product_id)
        for position, ((rec, similarity, pair_count), (_, expected_sim)) in enumerate(
            zip(got, expected, strict=True)
        ):
            j = reference.index(rec)
            # The similarity is the reference cosine of this very pair ...
            assert similarity == pytest.approx(reference.similarity[i, j], abs=TOLERANCE)
            # ... and the list is the reference list up to ties.
            assert similarity == pytest.approx(expected_sim, abs=TOLERANCE), (
                f"{product_id} rank {position + 1}: {rec} at {similarity}, expected {expected_sim}"
            )
            assert pair_count == reference.pair_counts[i, j]
            checked += 1
    assert checked > 0
    assert set(lists) <= set(reference.product_ids)


SHAPES = {
    "small-few-categories": dict(lines=1500, products=40, categories=4, seed=1),
    "wide-long-orders": dict(lines=6000, products=400, categories=20, mean_order_lines=9, seed=2),
    "weak-category-lean": dict(lines=3000, products=150, categories=8, category_lean=0.2, seed=3),
    "many-repeats": dict(lines=2500, products=80, categories=6, repeat_rate=0.5, seed=4),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_sparse_engine_matches_tutorial(tmp_path: Path, shape: dict) -> None:
    sales_file = generate_sales(tmp_path / "sales.csv", **shape)
    duckdb_path = build(tmp_path / "run", dbt_vars={**NO_GATE, "sales_path": str(sales_file)})
    sales = pd.read_csv(sales_file, dtype=str, keep_default_na=False)
    assert_matches_reference(duckdb_path, tutorial_reference(sales))


def test_engines_are_identical_and_match_on_parquet(tmp_path: Path) -> None:
    sales_file = generate_sales(
        tmp_path / "sales.parquet", lines=4000, products=300, categories=10, seed=5
    )
    sparse = build(tmp_path / "sparse", dbt_vars={**NO_GATE, "sales_path": str(sales_file)})
    sql = build(
        tmp_path / "sql",
        dbt_vars={**NO_GATE, "sales_path": str(sales_file), "similarity_engine": "sql"},
    )
    with duckdb.connect() as con:  # pandas would need pyarrow for Parquet
        sales = con.execute("select * from read_parquet(?)", [str(sales_file)]).df()
    assert_matches_reference(sql, tutorial_reference(sales))
    sparse_rows = query(sparse, f"select {MART_COLUMNS} from product_recommendations order by all")
    sql_rows = query(sql, f"select {MART_COLUMNS} from product_recommendations order by all")
    assert sparse_rows == sql_rows  # bit for bit, not just within tolerance


def test_min_pair_count_and_top_k_follow_their_vars(tmp_path: Path) -> None:
    sales_file = generate_sales(tmp_path / "sales.csv", lines=5000, products=60, seed=6)
    duckdb_path = build(
        tmp_path / "run",
        dbt_vars={**NO_GATE, "sales_path": str(sales_file), "min_pair_count": 3, "top_k": 3},
    )
    sales = pd.read_csv(sales_file, dtype=str)
    assert_matches_reference(duckdb_path, tutorial_reference(sales, min_pair_count=3), k=3)
    (smallest,) = query(duckdb_path, "select min(pair_count) from int_product_pair_counts")[0]
    assert smallest >= 3


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_ties_exceeding_the_candidate_margin_are_exact(tmp_path: Path) -> None:
    # 60 products always bought together: every pair has cosine 1, so each
    # product's top 5 is a 59-way tie, far past the sparse engine's candidate
    # list. Ties go to the smallest product_id.
    rows = [[f"o{o}", f"p{p:02d}", "bulk"] for o in range(3) for p in range(60)]
    rows += [["o9", "p00", "bulk"], ["o9", "z", "other"]]
    sales_file = write_csv(tmp_path / "ties.csv", ["order_id", "product_id", "category"], rows)
    sparse = build(tmp_path / "sparse", dbt_vars={**NO_GATE, "sales_path": str(sales_file)})
    sql = build(
        tmp_path / "sql",
        dbt_vars={**NO_GATE, "sales_path": str(sales_file), "similarity_engine": "sql"},
    )
    for duckdb_path in (sparse, sql):
        recs = [
            rec
            for (rec,) in query(
                duckdb_path,
                "select recommended_product_id from product_recommendations "
                "where product_id = 'p30' order by recommendation_rank",
            )
        ]
        assert recs == ["p01", "p02", "p03", "p04", "p05"]
    assert query(sparse, f"select {MART_COLUMNS} from product_recommendations order by all") == (
        query(sql, f"select {MART_COLUMNS} from product_recommendations order by all")
    )
    sales = pd.read_csv(sales_file, dtype=str)
    assert_matches_reference(sparse, tutorial_reference(sales))


def test_ids_are_text_and_categories_take_the_most_frequent(tmp_path: Path) -> None:
    rows = [
        ["1", "007", "tools"],
        ["1", "7", "tools"],
        ["1", "café", "drinks"],
        ["2", "007", "garden"],
        ["2", "7", "tools"],
        ["2", "café", "drinks"],
        ["3", "007", "garden"],
        ["3", "café", "drinks"],
        ["4", "7", "alpha"],
        ["4", "café", "drinks"],
    ]
    sales_file = write_csv(
        tmp_path / "ids.csv", ["category", "product_id", "order_id"], [r[::-1] for r in rows]
    )
    duckdb_path = build(tmp_path / "run", dbt_vars={**NO_GATE, "sales_path": str(sales_file)})
    products = dict(
        query(duckdb_path, "select product_id, category from int_products order by product_id")
    )
    # '007' and '7' are different products; 007 is 'garden' 2:1; 7 is 'tools' 2:1;
    # unicode ids survive as given.
    assert products == {"007": "garden", "7": "tools", "café": "drinks"}
    chosen = query(
        duckdb_path,
        "select category, line_count, is_primary_category from int_product_categories "
        "where product_id = '007' order by category",
    )
    assert chosen == [("garden", 2, True), ("tools", 1, False)]


def test_category_ties_go_to_the_smallest_name(tmp_path: Path) -> None:
    rows = [
        ["1", "a", "zebra"],
        ["1", "b", "x"],
        ["1", "c", "x"],
        ["2", "a", "apple"],
        ["2", "b", "x"],
        ["2", "c", "x"],
    ]
    sales_file = write_csv(tmp_path / "tie.csv", ["order_id", "product_id", "category"], rows)
    duckdb_path = build(tmp_path / "run", dbt_vars={**NO_GATE, "sales_path": str(sales_file)})
    assert query(duckdb_path, "select category from int_products where product_id = 'a'") == [
        ("apple",)
    ]


def test_missing_category_column_names_the_column_and_the_file(tmp_path: Path) -> None:
    sales_file = write_csv(
        tmp_path / "no_category.csv", ["order_id", "product_id"], [["1", "a"], ["1", "b"]]
    )
    result = run_dbt(
        ["build"], tmp_path / "run", dbt_vars={**NO_GATE, "sales_path": str(sales_file)}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "missing required column(s): category" in output
    assert str(sales_file) in output


def test_sample_seed_builds_and_matches_tutorial(sample_build: Path) -> None:
    seed = Path(__file__).resolve().parents[2] / "seeds" / "raw_sales.csv"
    sales = pd.read_csv(seed, dtype=str)
    assert_matches_reference(sample_build, tutorial_reference(sales))


def test_pair_count_invariants_catch_a_broken_matrix(sample_build: Path, tmp_path: Path) -> None:
    # Break C in the built file: a count no longer mirrored, a pair stored twice, a pair
    # below min_pair_count (both directions, so it stays symmetric).
    broken = tmp_path / "recommender.duckdb"
    broken.write_bytes(sample_build.read_bytes())
    with duckdb.connect(str(broken)) as con:
        first, second, third = con.execute(
            "select product_key, co_product_key from int_product_pair_counts"
            " where product_key < co_product_key order by product_key, co_product_key limit 3"
        ).fetchall()
        con.execute(
            "update int_product_pair_counts set pair_count = pair_count + 1"
            " where product_key = ? and co_product_key = ?",
            list(first),
        )
        con.execute(
            "insert into int_product_pair_counts select * from int_product_pair_counts"
            " where product_key = ? and co_product_key = ?",
            list(second),
        )
        con.execute(
            "update int_product_pair_counts set pair_count = 0"
            " where least(product_key, co_product_key) = ?"
            " and greatest(product_key, co_product_key) = ?",
            list(third),
        )
    result = run_dbt(
        ["test", "--select", "assert_pair_counts_are_consistent", "--store-failures"], tmp_path
    )
    # The symmetry check is per product (its row and column of C): the two products of
    # the unmirrored count and the two of the pair stored twice; the floor is per row.
    asymmetric = {*first, *second}
    expected = [(ASYMMETRIC, product, None) for product in asymmetric] + [
        ("pair_count below the min_pair_count var", third[0], third[1]),
        ("pair_count below the min_pair_count var", third[1], third[0]),
    ]
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"FAIL {len(expected)} assert_pair_counts_are_consistent" in result.stdout, (
        result.stdout[-3000:]
    )
    problems = query(
        broken,
        "select problem, product_key, co_product_key"
        " from main_dbt_test__audit.assert_pair_counts_are_consistent",
    )
    assert sorted(problems, key=repr) == sorted(expected, key=repr)


def test_pair_count_invariants_catch_a_product_paired_with_itself(
    sample_build: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "recommender.duckdb"
    broken.write_bytes(sample_build.read_bytes())
    with duckdb.connect(str(broken)) as con:
        con.execute(
            "update int_product_pair_counts set co_product_key = product_key"
            " where product_key = 0 and co_product_key = (select min(co_product_key)"
            " from int_product_pair_counts where product_key = 0)"
        )
        (pair_count,) = con.execute(
            "select pair_count from int_product_pair_counts"
            " where product_key = 0 and co_product_key = 0"
        ).fetchone()
    result = run_dbt(
        ["test", "--select", "assert_pair_counts_are_consistent", "--store-failures"], tmp_path
    )
    assert result.returncode == 1, result.stdout[-3000:]
    problems = query(
        broken,
        "select problem, product_key, co_product_key, observed"
        " from main_dbt_test__audit.assert_pair_counts_are_consistent",
    )
    # The moved entry also leaves its co-product's column without its mirror.
    assert ("a product paired with itself", 0, 0, pair_count) in problems, problems
    assert {row[0] for row in problems} == {"a product paired with itself", ASYMMETRIC}


def unit_test_names(*yaml_files: str) -> set[str]:
    models = PROJECT_DIR / "models" / "intermediate"
    return {
        unit_test["name"]
        for name in yaml_files
        for unit_test in yaml.safe_load((models / name).read_text())["unit_tests"]
    }


@pytest.mark.parametrize("path", ["sparse", "sql"])
def test_unit_tests_run_outside_the_default_build(
    sample_build: Path, tmp_path: Path, path: str
) -> None:
    # selectors.yml leaves unit tests out of a plain `dbt build` (their inputs are fixed
    # rows); they must still run, and pass, when selected, for the models of each engine.
    # int_product_neighbours exists with the sql engine (or a first-order measure): its
    # unit tests then run, the first-order measures' included (each sets its measure).
    built = run_dbt(["ls", "--resource-type", "unit_test"], tmp_path)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "unit_test:" not in built.stdout
    (tmp_path / "recommender.duckdb").write_bytes(sample_build.read_bytes())
    dbt_vars = {"sparse": {}, "sql": {"similarity_engine": "sql"}}[path]
    # dbt reads the columns of the models under test: create the ones the sample lacks, empty.
    if path == "sql":
        created = run_dbt(
            ["run", "--empty", "--select", "int_product_similarities int_product_neighbours"],
            tmp_path,
            dbt_vars=dbt_vars,
        )
        assert created.returncode == 0, created.stdout[-3000:]
    result = run_dbt(["test", "--select", "test_type:unit"], tmp_path, dbt_vars=dbt_vars)
    assert result.returncode == 0, result.stdout[-3000:]
    expected = unit_test_names("_intermediate__models.yml")
    if path == "sql":
        expected |= unit_test_names(
            "_intermediate__sql_engine_tests.yml", "_intermediate__measure_tests.yml"
        )
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    passed = {r["unique_id"].split(".")[-1] for r in results if r["status"] == "pass"}
    assert passed == expected
    assert len(expected) >= {"sparse": 4, "sql": 14}[path]


def test_line_numbers_follow_the_file_whatever_its_format(tmp_path: Path) -> None:
    # A single Parquet file is numbered by its reader (file_row_number), CSV and globs by
    # row_number(): every format must give each line the same sales_line_id.
    sales_file = generate_sales(tmp_path / "sales.csv", lines=3000, products=50, seed=8)
    parts = tmp_path / "parts"
    parts.mkdir()
    lines = f"from read_csv('{sales_file}', all_varchar = true)"
    with duckdb.connect() as con:
        con.execute(
            f"copy ({lines}) to '{tmp_path / 'sales.parquet'}'"
            " (format parquet, row_group_size 1000)"
        )
        con.execute(f"copy ({lines} limit 1200) to '{parts / 'sales_0.parquet'}' (format parquet)")
        con.execute(f"copy ({lines} offset 1200) to '{parts / 'sales_1.parquet'}' (format parquet)")
    lines_sql = "select sales_line_id, order_id, product_id, category from stg_sales__lines"
    tables = {}
    for name, path in [
        ("csv", sales_file),
        ("parquet", tmp_path / "sales.parquet"),
        ("glob", parts / "sales_*.parquet"),
    ]:
        result = run_dbt(
            ["run", "--select", "stg_sales__lines"],
            tmp_path / name,
            dbt_vars={"sales_path": str(path)},
        )
        assert result.returncode == 0, result.stdout[-3000:]
        db = tmp_path / name / "recommender.duckdb"
        tables[name] = query(db, f"{lines_sql} order by sales_line_id")
    with open(sales_file, newline="") as handle:
        in_file = [
            (number, row["order_id"], row["product_id"], row["category"])
            for number, row in enumerate(csv.DictReader(handle), start=1)
        ]
    assert tables["csv"] == in_file
    assert tables["parquet"] == in_file
    assert tables["glob"] == in_file
