"""Vars are data: every var is checked (type and range) before anything runs.

macros/validate_vars.sql runs as dbt's on-run-start hook and lists every bad var
at once with its expected range. Nothing a var holds reaches SQL unchecked:
numbers are validated before the models paste them, sales_path only ever
appears as a quoted literal.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import PROJECT_DIR, query, run_dbt

# (var, bad value, what the error must say about it). All are given in one dbt run:
# every problem is reported, not only the first.
BAD_VARS = [
    ("top_k", "5", 'top_k must be a whole number between 1 and 1000, got "5" (text)'),
    ("min_pair_count", 0, "min_pair_count must be >= 1, got 0"),
    ("min_similarity", 1, "min_similarity must be from 0 to 1 (excluded), got 1"),
    ("max_order_lines", -1, "max_order_lines must be >= 0, got -1"),
    ("max_largest_orders_pair_share", 2, "max_largest_orders_pair_share must be from 0 to 1"),
    (
        "min_same_category_rate",
        True,
        "min_same_category_rate must be a number from 0 to 1, got true (true/false)",
    ),
    ("min_category_rate", "high", 'min_category_rate must be a number from 0 to 1, got "high"'),
    ("min_category_products", 2.5, "min_category_products must be a whole number >= 0, got 2.5"),
    (
        "min_pair_count_sweep",
        [1, "x"],
        'min_pair_count_sweep must contain whole numbers >= 1, got "x"',
    ),
    ("similarity_shrinkage", -1, "similarity_shrinkage must be >= 0, got -1"),
    ("asymmetric_alpha", 1.5, "asymmetric_alpha must be from 0 to 1, got 1.5"),
    ("rp3_beta", "x", 'rp3_beta must be a number from 0 to 2, got "x" (text)'),
    ("min_same_category_lift", -1, "min_same_category_lift must be >= 0, got -1"),
    (
        "evaluation_holdout_share",
        1,
        "evaluation_holdout_share must be from 0 (excluded) to 1 (excluded), got 1",
    ),
    ("evaluation_head_share", 1, "evaluation_head_share must be from 0 to 1 (excluded), got 1"),
    (
        "evaluation_measures",
        [
            {"measure": "cosine", "asymmetric_alpha": 0.5},
            {"measure": "nope"},
            {"measure": "jaccard", "similarity_shrinkage": -2},
            "lift",
        ],
        "evaluation_measures entry 1: cosine has no parameter asymmetric_alpha"
        " (it reads similarity_shrinkage)",
    ),
]
# More problems the same run reports about the evaluation_measures entries above.
MORE_MESSAGES = [
    "evaluation_measures entry 2: measure must be one of second_order_cosine, co_occurrence",
    "evaluation_measures entry 3 similarity_shrinkage must be >= 0, got -2",
]
# Checked where the var is read (while dbt parses), before the hook runs.
PARSE_TIME_VARS = [
    ("similarity_engine", "fast", "similarity_engine must be 'sparse' or 'sql', got 'fast'"),
    ("similarity_measure", "pearson", "Unknown similarity measure 'pearson'; the measures are:"),
    ("sales_path", "sales.xlsx", "must end in .csv, .csv.gz, .tsv or .parquet"),
]
INJECTION = "x'; create table injected as select 1; --"


def run(tmp_path: Path, dbt_vars: dict, args: tuple[str, ...] = ("seed",)) -> tuple[int, str]:
    """dbt seed (cheap, and it runs the on-run-start hook) or the given command."""
    result = run_dbt(list(args), tmp_path, dbt_vars=dbt_vars)
    return result.returncode, result.stdout + result.stderr


def test_every_bad_var_is_reported_with_its_range(tmp_path: Path) -> None:
    code, output = run(tmp_path, {name: value for name, value, _ in BAD_VARS})
    assert code != 0
    assert "Invalid var(s):" in output
    for name, _, message in BAD_VARS:
        assert message in output, f"{name}: {message!r} not in\n{output[-3000:]}"
    for message in MORE_MESSAGES:
        assert message in output, f"{message!r} not in\n{output[-3000:]}"
    assert "Traceback" not in output
    # Nothing ran: the hook stops the run before any model.
    assert not (tmp_path / "recommender.duckdb").exists() or query(
        tmp_path / "recommender.duckdb", "select count(*) from information_schema.tables"
    ) == [(0,)]


def test_parse_time_vars_fail_with_a_clear_message(tmp_path: Path) -> None:
    for name, value, message in PARSE_TIME_VARS:
        code, output = run(tmp_path / name, {name: value})
        assert code != 0 and message in output, output[-3000:]


def test_valid_boundary_values_pass(tmp_path: Path) -> None:
    code, output = run(
        tmp_path,
        {
            "top_k": 1000,
            "min_pair_count": 1,
            "min_similarity": 0.999,
            "max_order_lines": 0,
            "max_largest_orders_pair_share": 1,
            "min_same_category_rate": 0,
            "min_category_products": 0,
            "min_pair_count_sweep": [1],
        },
    )
    assert code == 0, output[-3000:]
    assert "OK hook: recommender.on-run-start" in output


def test_sql_in_vars_is_never_executed(tmp_path: Path) -> None:
    # A number var holding SQL is refused as text; a path holding SQL stays a path.
    code, output = run(tmp_path / "number", {"min_pair_count": f"1; {INJECTION}"})
    assert code != 0 and "min_pair_count must be a whole number" in output
    code, output = run(
        tmp_path / "path",
        {"sales_path": f"/tmp/{INJECTION}.csv"},
        ("run", "--select", "stg_sales__lines"),
    )
    assert code != 0
    assert "does not exist (no file matches it)" in output, output[-3000:]
    assert "Parser Error" not in output
    for database in (tmp_path / "number", tmp_path / "path"):
        db = database / "recommender.duckdb"
        if db.exists():
            tables = query(db, "select table_name from information_schema.tables")
            assert ("injected",) not in tables


def test_every_var_the_project_reads_is_validated() -> None:
    validated = set(
        re.findall(
            r"check_\w+_var\(\s*problems,\s*'(\w+)'",
            (PROJECT_DIR / "macros/validate_vars.sql").read_text(),
        )
    ) | {"min_pair_count_sweep", "evaluation_measures"}
    # The measures' parameters are checked in a loop over the registry's ranges.
    validated |= set(
        re.findall(r"'(\w+)': \[", (PROJECT_DIR / "macros/measures/_registry.sql").read_text())
    )
    used = set()
    for folder in ("models", "macros", "tests"):
        for path in (PROJECT_DIR / folder).rglob("*"):
            if path.suffix in {".sql", ".yml", ".py"} and "fixtures" not in path.parts:
                used |= set(re.findall(r"\bvar\(\s*['\"](\w+)['\"]", path.read_text()))
    assert used, "found no var() at all: the scan is broken"
    assert used <= validated, f"vars read but not validated: {sorted(used - validated)}"
