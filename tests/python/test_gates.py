"""Every dbt data test (singular and generic) fails, by name and with its rows, on crafted input.

One table, GATES: each row tampers a copy of the sample build with SQL, runs
`dbt test --select <that test> --store-failures` against the copy, and checks that
exactly that test fails (or warns), with the expected failing rows (and, where the
test writes one, its message). The untampered copy passes every test listed.
A new data test needs a row here (test_every_data_test_has_a_failing_case checks).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_DIR, run_dbt

# The sample seed's product 00001 has five recommendations (ranks 1..5).
PRODUCT = "'00001'"


def on_rank(rank: int) -> str:
    """The row of PRODUCT's recommendation at this rank."""
    return f"product_id = {PRODUCT} and recommendation_rank = {rank}"


def set_on_rank(rank: int, assignment: str) -> str:
    return f"update product_recommendations set {assignment} where {on_rank(rank)}"


@dataclass(frozen=True)
class Gate:
    """One way to make one dbt test fail."""

    case: str  # what was broken (the pytest id)
    covers: str  # the singular test's file name or the generic test's macro name
    test: str  # the dbt test's name, as dbt prints it
    tamper: str  # SQL run on the copy before the test (statements separated by ';')
    failures: int  # rows the test returns (dbt prints "FAIL <failures> <test>")
    rows_sql: str  # a query over {failures}: the test's stored failing rows ...
    rows: list[tuple]  # ... and what it must return
    # "warn" for warn-only tests: exit code 0, "Warning in test"; "error" for a test that
    # stops the run with its message instead of returning rows (nothing stored).
    severity: str = "fail"
    message: str = ""  # also printed by dbt while it runs the test (minimum_value logs it)
    dbt_vars: dict | None = None  # vars the test runs with (e.g. a gate that is off by default)


GATES = [
    Gate(
        "a line counted twice",
        "assert_sales_lines_reconcile",
        "assert_sales_lines_reconcile",
        "update int_order_product_counts set quantity = quantity + 1 where rowid = 0",
        1,
        "select lines_used - lines_read, lines_rejected from {failures}",
        [(1, 0)],
    ),
    Gate(
        "a product recommended for itself",
        "assert_no_self_recommendation",
        "assert_no_self_recommendation",
        set_on_rank(2, "recommended_product_id = product_id"),
        1,
        "select product_id, recommendation_rank, recommended_product_id from {failures}",
        [("00001", 2, "00001")],
    ),
    Gate(
        "similarity above 1",
        "assert_similarity_within_measure_bounds_and_ordered",
        "assert_similarity_within_measure_bounds_and_ordered",
        set_on_rank(1, "similarity = 1.5"),
        1,
        "select product_id, recommendation_rank, similarity from {failures}",
        [("00001", 1, 1.5)],
    ),
    Gate(
        "similarity 0",
        "assert_similarity_within_measure_bounds_and_ordered",
        "assert_similarity_within_measure_bounds_and_ordered",
        set_on_rank(5, "similarity = 0"),
        1,
        "select product_id, recommendation_rank, similarity from {failures}",
        [("00001", 5, 0.0)],
    ),
    Gate(
        "similarity rising with rank",
        "assert_similarity_within_measure_bounds_and_ordered",
        "assert_similarity_within_measure_bounds_and_ordered",
        set_on_rank(3, "similarity = 0.999"),
        1,
        "select product_id, recommendation_rank, similarity > previous_similarity from {failures}",
        [("00001", 3, True)],
    ),
    Gate(
        "a recommendation scored by another measure",
        "assert_similarity_within_measure_bounds_and_ordered",
        "assert_similarity_within_measure_bounds_and_ordered",
        set_on_rank(4, "similarity_measure = 'lift'"),
        1,
        "select product_id, recommendation_rank, similarity_measure from {failures}",
        [("00001", 4, "lift")],
    ),
    Gate(
        "more than top_k recommendations",
        "assert_at_most_top_k_per_product",
        "assert_at_most_top_k_per_product",
        "insert into product_recommendations"
        " select * replace (6 as recommendation_rank, '00002' as recommended_product_id)"
        f" from product_recommendations where {on_rank(5)}",
        1,
        "select product_id, recommendation_count, highest_rank from {failures}",
        [("00001", 6, 6)],
    ),
    Gate(
        "a gap in the ranks",
        "assert_at_most_top_k_per_product",
        "assert_at_most_top_k_per_product",
        f"delete from product_recommendations where {on_rank(2)}",
        1,
        "select product_id, recommendation_count, highest_rank from {failures}",
        [("00001", 4, 5)],
    ),
    Gate(
        "a rank given twice",
        "assert_at_most_top_k_per_product",
        "assert_at_most_top_k_per_product",
        set_on_rank(3, "recommendation_rank = 2"),
        1,
        "select product_id, recommendation_count, distinct_rank_count from {failures}",
        [("00001", 5, 4)],
    ),
    Gate(
        "ranks starting at 0",
        "assert_at_most_top_k_per_product",
        "assert_at_most_top_k_per_product",
        set_on_rank(1, "recommendation_rank = 0"),
        1,
        "select product_id, lowest_rank, highest_rank, recommendation_count from {failures}",
        [("00001", 0, 5, 5)],
    ),
    Gate(
        "a product recommended twice to the same product",
        "unique_combination_of_columns",
        "unique_combination_of_columns_product_recommendations_product_id__recommended_product_id",
        set_on_rank(
            2,
            "recommended_product_id = (select recommended_product_id"
            f" from product_recommendations where {on_rank(1)})",
        ),
        1,
        "select product_id, occurrences from {failures}",
        [("00001", 2)],
    ),
    Gate(
        "a category rate above 1",
        "accepted_range",
        "accepted_range_recommendation_validation_same_category_rate__1__0__product_count_0",
        "update recommendation_validation set same_category_rate = 1.5 where category = 'meat'",
        1,
        "select category, same_category_rate from {failures}",
        [("meat", 1.5)],
    ),
    Gate(
        "a quantity below the inclusive bound 1",
        "accepted_range",
        "accepted_range_int_order_product_counts_quantity__1",
        "update int_order_product_counts set quantity = 0 where rowid = 0",
        1,
        "select quantity from {failures}",
        [(0,)],
    ),
    Gate(
        "a vector norm on the excluded bound 0 (inclusive: false)",
        "accepted_range",
        "accepted_range_int_product_vectors_vector_norm__False__0",
        "update int_product_vectors set vector_norm = 0 where rowid = 0",
        1,
        "select vector_norm from {failures}",
        [(0.0,)],
    ),
    Gate(
        "the lift below min_same_category_lift",
        "minimum_value",
        "recommendation_validation_overall_lift_at_least_min_same_category_lift",
        "update recommendation_validation_overall set same_category_lift = 1.5",
        1,
        "select message from {failures}",
        [
            (
                "same_category_lift 1.5 is below min_value 2.0"
                " (micro_same_category_rate 0.904, chance_same_category_rate 0.0868)",
            )
        ],
        message="minimum_value failed on recommendation_validation_overall: "
        "same_category_lift 1.5 is below min_value 2.0",
    ),
    Gate(
        "a category below min_category_rate",
        "minimum_value",
        "recommendation_validation_category_rate_at_least_min_category_rate",
        "update recommendation_validation set same_category_rate = 0.25 where category = 'meat'",
        1,
        "select category, message from {failures}",
        [
            (
                "meat",
                "category 'meat': same_category_rate 0.25 is below min_value 0.5"
                " (rows where product_count >= 10)",
            )
        ],
        message="minimum_value failed on recommendation_validation: category 'meat': "
        "same_category_rate 0.25 is below min_value 0.5",
        dbt_vars={"min_category_rate": 0.5},
    ),
    Gate(
        "the overall rate below min_same_category_rate",
        "minimum_value",
        "recommendation_validation_overall_rate_at_least_min_same_category_rate",
        "update recommendation_validation_overall set micro_same_category_rate = 0.6",
        1,
        "select message from {failures}",
        [("micro_same_category_rate 0.6 is below min_value 0.7",)],
        message="minimum_value failed on recommendation_validation_overall: "
        "micro_same_category_rate 0.6 is below min_value 0.7",
        dbt_vars={"min_same_category_rate": 0.7},
    ),
    Gate(
        "every line rejected",
        "assert_some_sales_lines_accepted",
        "assert_some_sales_lines_accepted",
        "insert into sales_rejected select sales_line_id, source_file, order_id, product_id,"
        " category, 'missing_category', null, null from stg_sales__lines",
        1,
        "select lines_read = lines_rejected, problem from {failures}",
        [(True, "no usable sales line: every line is in sales_rejected with its reason")],
    ),
    Gate(
        "a pair count no longer mirrored",
        "assert_pair_counts_are_consistent",
        "assert_pair_counts_are_consistent",
        "update int_product_pair_counts set pair_count = pair_count + 1 where rowid = 0",
        2,  # its product's row and its co-product's column no longer match their mirrors
        "select distinct problem from {failures}",
        [("row and column of C differ: a count not mirrored, a pair missing or repeated one way",)],
    ),
    Gate(
        "most of the file's lines malformed",
        "assert_malformed_lines_within_max_rejected_share",
        "assert_malformed_lines_within_max_rejected_share",
        "update stg_sales__lines set rejection_reason = 'malformed line: too many fields',"
        " raw_line = 'o1,p1,c1,extra' where sales_line_id <= 100",
        0,
        "",
        [],
        severity="error",
        message="100 of its 2965 lines (3.4%) are malformed, more than max_rejected_share 0.01"
        " allows",
    ),
    Gate(
        "one order makes most of the pairs (a warning)",
        "warn_largest_orders_dominate_pair_counting",
        "warn_largest_orders_dominate_pair_counting",
        "update int_order_sizes set product_pair_count = 100000 where rowid = 0",
        1,
        "select largest_orders_pair_share > 0.9, total_pair_count >= 100000 from {failures}",
        [(True, True)],
        severity="warn",
    ),
]


@pytest.fixture(scope="module")
def gate_workdir(sample_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every run: the same DUCKDB_PATH and target/, so dbt parses partially."""
    return tmp_path_factory.mktemp("gates")


def fresh_copy(sample_build: Path, workdir: Path) -> Path:
    copy = workdir / "recommender.duckdb"
    shutil.copyfile(sample_build, copy)
    return copy


def dbt_test_results(workdir: Path) -> dict[str, dict]:
    """The test nodes of the last run (target/run_results.json), by test name."""
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results if r["unique_id"].startswith("test.")}


def test_every_data_test_has_a_failing_case() -> None:
    singular = {path.stem for path in (PROJECT_DIR / "tests").glob("*.sql")}
    generic = {path.stem for path in (PROJECT_DIR / "tests" / "generic").glob("*.sql")}
    assert singular and generic
    assert (singular | generic) - {gate.covers for gate in GATES} == set()


def test_the_untampered_build_passes_every_listed_test(
    sample_build: Path, gate_workdir: Path
) -> None:
    fresh_copy(sample_build, gate_workdir)
    names = sorted({gate.test for gate in GATES})
    result = run_dbt(["test", "--select", *names], gate_workdir)
    assert result.returncode == 0, result.stdout[-4000:]
    results = dbt_test_results(gate_workdir)
    # Every name was found (a renamed test would select nothing) and passed.
    assert {name: r["status"] for name, r in results.items()} == dict.fromkeys(names, "pass")


@pytest.mark.parametrize("gate", GATES, ids=[gate.case for gate in GATES])
def test_gate_fails_on_crafted_input(sample_build: Path, gate_workdir: Path, gate: Gate) -> None:
    copy = fresh_copy(sample_build, gate_workdir)
    with duckdb.connect(str(copy)) as con:
        for statement in gate.tamper.split(";"):
            con.execute(statement)
    result = run_dbt(
        ["test", "--select", gate.test, "--store-failures"], gate_workdir, dbt_vars=gate.dbt_vars
    )
    output = result.stdout + result.stderr

    if gate.severity == "error":
        # The test raises its message while it runs: dbt reports an error, not rows.
        assert result.returncode == 1, output[-4000:]
        assert f"Compilation Error in test {gate.test} (" in output, output[-4000:]
        assert gate.message in output, output[-4000:]
        assert "select * from stg_sales__lines where rejection_reason like 'malformed%'" in output
        results = dbt_test_results(gate_workdir)
        assert list(results) == [gate.test], results.keys()
        assert results[gate.test]["status"] == "error"
        return
    warn = gate.severity == "warn"
    assert result.returncode == (0 if warn else 1), output[-4000:]
    word = "Warning" if warn else "Failure"
    assert f"{word} in test {gate.test} (" in output, output[-4000:]
    assert f"{gate.severity.upper()} {gate.failures} {gate.test} " in output, output[-4000:]
    assert gate.message in output, output[-4000:]
    results = dbt_test_results(gate_workdir)
    assert list(results) == [gate.test], results.keys()
    assert (results[gate.test]["status"], results[gate.test]["failures"]) == (
        gate.severity,
        gate.failures,
    )
    # The failing rows, as dbt stored them (--store-failures; long names are hashed).
    failures = results[gate.test]["relation_name"]
    assert failures and "dbt_test__audit" in failures, results[gate.test]
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute(gate.rows_sql.format(failures=failures)).fetchall() == gate.rows
