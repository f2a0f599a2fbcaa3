"""Sales read from a table already in the database (the `sales_relation` var).

A user whose order lines live in a table (a warehouse table, a view) points the
build at it instead of at a file. The sample seed's lines held in a table must
give the sample's recommendations, and with integer ids (as a user's table may
type them) the same lists named by the integers' text; a table without a
required column, or a name that matches no table, fails the build with a
message naming the table and the fix.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_DIR, build, query, run_dbt

SEED = PROJECT_DIR / "seeds" / "raw_sales.csv"
COLUMNS = "product_id, recommendation_rank, recommended_product_id, similarity"


def make_table(duckdb_path: Path, select: str) -> None:
    """Create shop.order_lines in a fresh DuckDB file before dbt opens it."""
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute("create schema shop")
        con.execute(f"create table shop.order_lines as {select}")


def recommendations(duckdb_path: Path) -> list[tuple]:
    return query(
        duckdb_path,
        f"select {COLUMNS} from product_recommendations order by product_id, recommendation_rank",
    )


def test_a_table_of_sales_builds_the_samples_recommendations(
    tmp_path: Path, sample_build: Path
) -> None:
    make_table(
        tmp_path / "recommender.duckdb",
        f"select order_id, product_id, category from read_csv('{SEED}', all_varchar = true)",
    )
    built = build(tmp_path, {"sales_relation": "shop.order_lines"})
    expected = recommendations(sample_build)
    got = recommendations(built)
    assert len(expected) > 100
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert math.isclose(mine[3], theirs[3], rel_tol=0, abs_tol=1e-12), (mine, theirs)
    lines = query(built, "select count(*) from stg_sales__lines")[0][0]
    seed_lines = sum(1 for _ in SEED.open(encoding="utf-8")) - 1
    assert lines == seed_lines
    files = query(built, "select distinct source_file from stg_sales__lines")
    assert files == [("shop.order_lines",)]


def test_a_table_with_integer_ids_gives_them_as_text(tmp_path: Path, sample_build: Path) -> None:
    # The seed's product ids with their leading zeros dropped, typed as integers: the
    # recommendations are the sample's, named by the integers' decimal text.
    make_table(
        tmp_path / "recommender.duckdb",
        "select order_id, cast(product_id as integer) as product_id, category "
        f"from read_csv('{SEED}', all_varchar = true)",
    )
    typed = query(
        tmp_path / "recommender.duckdb",
        "select data_type from information_schema.columns "
        "where table_schema = 'shop' and column_name = 'product_id'",
    )
    assert typed == [("INTEGER",)]
    built = build(tmp_path, {"sales_relation": "shop.order_lines"})
    expected = {
        (str(int(product)), rank, str(int(recommended))): similarity
        for product, rank, recommended, similarity in recommendations(sample_build)
    }
    got = {(p, rank, r): similarity for p, rank, r, similarity in recommendations(built)}
    assert len(expected) > 100
    assert got.keys() == expected.keys()
    for key, similarity in got.items():
        assert math.isclose(similarity, expected[key], rel_tol=0, abs_tol=1e-12), key


def test_a_table_without_a_required_column_is_refused_by_name(tmp_path: Path) -> None:
    make_table(
        tmp_path / "recommender.duckdb",
        f"select order_id, product_id from read_csv('{SEED}')",
    )
    result = run_dbt(["build"], tmp_path, dbt_vars={"sales_relation": "shop.order_lines"})
    assert result.returncode != 0
    assert "shop.order_lines" in result.stdout
    assert "missing required column(s): category" in result.stdout


def test_a_name_that_matches_no_table_is_refused_with_the_fix(tmp_path: Path) -> None:
    result = run_dbt(["build"], tmp_path, dbt_vars={"sales_relation": "shop.no_such_table"})
    assert result.returncode != 0
    assert "sales_relation 'shop.no_such_table' matches no table or view" in result.stdout


@pytest.mark.parametrize("name", ["shop.order_lines; drop table x", "a.b.c.d"])
def test_a_name_that_is_not_a_table_name_is_refused(tmp_path: Path, name: str) -> None:
    result = run_dbt(["build"], tmp_path, dbt_vars={"sales_relation": name})
    assert result.returncode != 0
    assert "sales_relation must name a table" in result.stdout
