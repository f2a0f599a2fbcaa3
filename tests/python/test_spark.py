"""The same project on Apache Spark (dbt-spark, a local session): identical results.

One Spark build per input for the whole session (Spark starts in tens of seconds and
runs each model as a job): the sample seed, and a generated CSV with exact ties, ids
with leading zeros, unicode and separators inside quotes, lines rejected for what
they say and lines the reader cannot parse. Each is built on DuckDB too, and every
mart is compared: ids exact, similarities within 1e-9, ranks equal up to ties. The
export of the Spark build (scripts/export.py --target spark) must be the DuckDB
build's export, byte for byte.

Needs the Spark extras (`make install-spark`) and Java 17: skipped without them,
failed under CI=true (.ci/run installs both).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_DIR, build, query, require_component, run_command, run_dbt

MARTS = [
    "product_recommendations",
    "sales_rejected",
    "recommendation_validation",
    "recommendation_validation_overall",
    "recommendation_validation_products",
    "orders_excluded",
]
# Sort keys of each mart (ranks are compared apart, up to ties).
KEYS = {
    "product_recommendations": ["product_id", "recommendation_rank"],
    "sales_rejected": ["sales_line_id"],
    "recommendation_validation": ["category"],
    "recommendation_validation_overall": [],
    "recommendation_validation_products": ["product_id"],
    "orders_excluded": ["order_id"],
}
# What `make evaluate` adds (the sql engine's neighbours on Spark; int_products maps keys
# to ids, which the engines may number alike but need not).
EVALUATION_TABLES = [
    "recommendation_evaluation",
    "recommendation_threshold_sweep",
    "int_evaluation_neighbours",
    "int_products",
]
# The project's similarity measures (README "Choosing a measure"): the default
# evaluation_measures evaluates each.
MEASURE_NAMES = [
    "second_order_cosine",
    "co_occurrence",
    "cosine",
    "jaccard",
    "lift",
    "asymmetric_cosine",
    "rp3beta",
]
TOLERANCE = 1e-9
# The generated file's vars: no quality gate (random baskets), and max_order_lines so
# that orders_excluded has a row.
GENERATED_VARS = {
    "min_same_category_lift": 0,
    "min_same_category_rate": 0,
    "min_category_rate": 0,
    "max_order_lines": 8,
}


@dataclass(frozen=True)
class SparkBuild:
    schema: str
    env: dict[str, str]
    marts: dict[str, Any]  # spark_dump.py's JSON


def spark_env(root: Path, schema: str) -> dict[str, str]:
    """The environment profiles.yml's spark output reads: one warehouse and metastore
    for the session's builds, one schema per input."""
    return {
        "SPARK_WAREHOUSE_DIR": str(root / "warehouse"),
        "SPARK_METASTORE_DIR": str(root / "metastore_db"),
        "SPARK_SCHEMA": schema,
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "PYSPARK_PYTHON": sys.executable,
    }


def write_generated_sales(path: Path) -> Path:
    """Orders over products whose ids differ only by leading zeros, unicode ids and
    categories, ids with a comma or a quote (quoted), two identical orders (exact ties),
    an order above max_order_lines, rejected lines of each kind both readers agree on, and
    blank lines."""
    products = [
        ("007", "Bäckerei"),
        ("07", "Bäckerei"),
        ("7", "Bäckerei"),
        ("0042", "drinks"),
        ("42", "drinks"),
        ("é-1", "drinks"),
        ("日本茶", "tea"),
        ("tea-2", "tea"),
        ("tea-3", "tea"),
        ("p,comma", "misc"),
        ('p"q', "misc"),
        ("x10", "misc"),
    ]

    def field(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"') else value

    lines = ["order_id,product_id,category"]
    state = 12345
    for order in range(1, 81):
        state = (state * 1103515245 + 12345) % 2**31
        size = 2 + state % 4
        for offset in range(size):
            product, category = products[(state // 7 + offset * 5) % len(products)]
            lines.append(f"{order:05d},{field(product)},{field(category)}")
            if (state + offset) % 9 == 0:  # a repeated line: quantity 2
                lines.append(f"{order:05d},{field(product)},{field(category)}")
    for order in ("99998", "99999"):  # two identical orders: exact ties
        lines += [f"{order},tie-a,ties", f"{order},tie-b,ties", f"{order},tie-c,ties"]
    lines += [f"88888,{product},{field(category)}" for product, category in products[:9]]
    rejected = [
        "00003,only-two",  # too few fields (the reader)
        "00005,a,b,c",  # too many fields (the reader)
        ",missing-order,misc",
        "00009,  ,misc",
        "00011,NULL,misc",
        "00012,semi;colon,misc",
    ]
    for position, line in zip(range(10, 70, 10), rejected, strict=True):
        lines.insert(position, line)
    # Blank lines (both readers skip them): one right before a malformed line, whose
    # sales_line_id DuckDB's rejects table would count them in, and two in a row.
    for position in (10, 41, 41):
        lines.insert(position, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def spark_build(
    root: Path, schema: str, dbt_vars: dict | None, selector: str | None = None
) -> SparkBuild:
    """`dbt build --target spark` (the pipeline, or a selector's nodes) into its own
    schema; the marts (and with the evaluation selector its tables) dumped as JSON."""
    env = spark_env(root, schema)
    args = ["build", "--target", "spark", *(["--selector", selector] if selector else [])]
    result = run_dbt(args, root / schema, dbt_vars=dbt_vars, env=env)
    if result.returncode != 0:
        pytest.fail(f"dbt build --target spark failed:\n{result.stdout[-8000:]}")
    out = root / f"{schema}.json"
    tables = MARTS + (EVALUATION_TABLES if selector == "evaluation" else [])
    dumped = run_command(
        [
            sys.executable,
            str(PROJECT_DIR / "tests" / "python" / "spark_dump.py"),
            str(out),
            *tables,
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
    )
    if dumped.returncode != 0:
        pytest.fail(f"spark_dump.py failed:\n{dumped.stderr[-4000:]}")
    return SparkBuild(schema, env, json.loads(out.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def spark_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_component("spark_extras")
    require_component("java")
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(scope="session")
def generated_sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_generated_sales(tmp_path_factory.mktemp("spark_input") / "sales.csv")


@pytest.fixture(scope="session")
def spark_generated(spark_root: Path, generated_sales: Path) -> SparkBuild:
    return spark_build(
        spark_root, "generated", {**GENERATED_VARS, "sales_path": str(generated_sales)}
    )


@pytest.fixture(scope="session")
def spark_sample(spark_root: Path) -> SparkBuild:
    # As `make evaluate` builds it: the pipeline and the hold-out evaluation of every
    # measure in one Spark session (each build starts one, tens of seconds).
    return spark_build(spark_root, "sample", None, selector="evaluation")


@pytest.fixture(scope="session")
def duckdb_generated(tmp_path_factory: pytest.TempPathFactory, generated_sales: Path) -> Path:
    workdir = tmp_path_factory.mktemp("duckdb_generated")
    return build(workdir, dbt_vars={**GENERATED_VARS, "sales_path": str(generated_sales)})


def duckdb_mart(duckdb_path: Path, table: str, columns: list[str]) -> list[list[Any]]:
    return [list(row) for row in query(duckdb_path, f"select {', '.join(columns)} from {table}")]


def same_value(left: Any, right: Any) -> bool:
    if isinstance(left, float) or isinstance(right, float):
        if left is None or right is None:
            return left is right
        return math.isclose(float(left), float(right), rel_tol=0, abs_tol=TOLERANCE)
    return left == right


def sort_rows(rows: list[list[Any]], columns: list[str], keys: list[str]) -> list[list[Any]]:
    positions = [columns.index(key) for key in keys]
    return sorted(rows, key=lambda row: [str(row[position]) for position in positions])


def assert_same_rows(
    table: str,
    duck: list[list[Any]],
    spark: list[list[Any]],
    columns: list[str],
    keys: list[str],
) -> None:
    """Sorted by keys, row by row: every column equal (floats within 1e-9)."""
    for duck_row, spark_row in zip(
        sort_rows(duck, columns, keys), sort_rows(spark, columns, keys), strict=True
    ):
        assert all(same_value(a, b) for a, b in zip(duck_row, spark_row, strict=True)), (
            table,
            dict(zip(columns, duck_row, strict=True)),
            dict(zip(columns, spark_row, strict=True)),
        )


def assert_same_recommendations(
    duck: list[list[Any]], spark: list[list[Any]], columns: list[str]
) -> None:
    """Per product: the same number of recommendations, the same similarity at each rank
    (within 1e-9), and at each similarity the same recommended products (ties may be
    ordered either way; a tie cut by top_k may keep different ones)."""
    product, rank, recommended, similarity = (
        columns.index(name)
        for name in ("product_id", "recommendation_rank", "recommended_product_id", "similarity")
    )

    def by_product(rows: list[list[Any]]) -> dict[str, list[list[Any]]]:
        grouped: dict[str, list[list[Any]]] = {}
        for row in sorted(rows, key=lambda row: (row[product], row[rank])):
            grouped.setdefault(row[product], []).append(row)
        return grouped

    left, right = by_product(duck), by_product(spark)
    assert sorted(left) == sorted(right)
    for product_id, duck_rows in left.items():
        spark_rows = right[product_id]
        assert [row[rank] for row in spark_rows] == [row[rank] for row in duck_rows], product_id
        for duck_row, spark_row in zip(duck_rows, spark_rows, strict=True):
            assert same_value(duck_row[similarity], spark_row[similarity]), (duck_row, spark_row)
        lowest = duck_rows[-1][similarity]
        for level in {row[similarity] for row in duck_rows if row[similarity] > lowest + TOLERANCE}:
            tied = {
                row[recommended] for row in duck_rows if abs(row[similarity] - level) <= TOLERANCE
            }
            spark_tied = {
                row[recommended] for row in spark_rows if abs(row[similarity] - level) <= TOLERANCE
            }
            assert tied == spark_tied, (product_id, level)
        # Outside ties the rows are the same rows, every column.
        for duck_row, spark_row in zip(duck_rows, spark_rows, strict=True):
            if duck_row[recommended] == spark_row[recommended]:
                assert all(same_value(a, b) for a, b in zip(duck_row, spark_row, strict=True)), (
                    duck_row,
                    spark_row,
                )


def assert_same_marts(duckdb_path: Path, spark: SparkBuild) -> None:
    for table in MARTS:
        dumped = spark.marts[table]
        assert dumped is not None, f"{table} is missing from the Spark build"
        columns = [name for name, *_ in query(duckdb_path, f"describe {table}")]
        assert dumped["columns"] == columns, table
        duck_rows = duckdb_mart(duckdb_path, table, columns)
        spark_rows = dumped["rows"]
        assert len(spark_rows) == len(duck_rows), table
        if table == "product_recommendations":
            assert_same_recommendations(duck_rows, spark_rows, columns)
            continue
        if table == "sales_rejected":
            # The reader's own message differs (DuckDB's parser, Spark's), and so does the
            # line number in it after a blank line (DuckDB counts blank lines, as an editor
            # does; Spark's reader drops them first: README "Running on Spark"). The place,
            # sales_line_id, does not differ.
            detail = columns.index("rejection_detail")
            for row in duck_rows + spark_rows:
                row[detail] = row[detail] and re.sub(
                    r"^line \d+ of the file", "line N of the file", row[detail].split(": ", 1)[0]
                )
        assert_same_rows(table, duck_rows, spark_rows, columns, KEYS[table])


def test_spark_builds_the_sample_like_duckdb(
    sample_evaluation_build: Path, spark_sample: SparkBuild
) -> None:
    assert_same_marts(sample_evaluation_build, spark_sample)
    assert spark_sample.marts["product_recommendations"]["rows"]


def evaluation_neighbours(
    rows: list[list[Any]], columns: list[str], product_ids: dict[int, str]
) -> tuple[list[list[Any]], list[str]]:
    """Neighbour rows by config as product_recommendations' columns: "config|product" as
    the product, so that assert_same_recommendations compares each config's lists."""
    at = {name: columns.index(name) for name in columns}
    out = [
        [
            f"{row[at['config_id']]}|{product_ids[row[at['product_key']]]}",
            row[at["recommendation_rank"]],
            product_ids[row[at["recommended_product_key"]]],
            row[at["similarity"]],
        ]
        for row in rows
    ]
    return out, ["product_id", "recommendation_rank", "recommended_product_id", "similarity"]


def test_spark_evaluates_every_measure_like_duckdb(
    sample_evaluation_build: Path, spark_sample: SparkBuild
) -> None:
    """The hold-out evaluation on Spark (every measure of evaluation_measures, the sql
    engine) against DuckDB's (the sparse engine for the second-order cosine): each
    config's top-k lists, and every figure of the evaluation and the threshold sweep."""
    marts = spark_sample.marts
    evaluation = marts["recommendation_evaluation"]
    measure = evaluation["columns"].index("measure")
    measures = {row[measure] for row in evaluation["rows"]}
    assert measures == {"popularity", *MEASURE_NAMES}, "evaluation_measures lost a measure"
    for table, keys in (
        ("recommendation_evaluation", ["config_id"]),
        ("recommendation_threshold_sweep", ["min_pair_count"]),
    ):
        columns = [name for name, *_ in query(sample_evaluation_build, f"describe {table}")]
        assert marts[table]["columns"] == columns, table
        duck_rows = duckdb_mart(sample_evaluation_build, table, columns)
        assert len(marts[table]["rows"]) == len(duck_rows) > 1, table
        assert_same_rows(table, duck_rows, marts[table]["rows"], columns, keys)
    products = marts["int_products"]
    spark_ids = {
        row[products["columns"].index("product_key")]: row[products["columns"].index("product_id")]
        for row in products["rows"]
    }
    duck_ids = dict(
        query(sample_evaluation_build, "select product_key, product_id from int_products")
    )
    neighbour_columns = [
        "config_id",
        "product_key",
        "recommended_product_key",
        "recommendation_rank",
        "similarity",
    ]
    duck_rows = duckdb_mart(
        sample_evaluation_build,
        "(select * from int_evaluation_neighbours"
        " union all select * from int_evaluation_neighbours_sparse)",
        neighbour_columns,
    )
    spark = marts["int_evaluation_neighbours"]
    spark_rows = [
        [row[spark["columns"].index(name)] for name in neighbour_columns] for row in spark["rows"]
    ]
    assert len(spark_rows) == len(duck_rows)
    duck, columns = evaluation_neighbours(duck_rows, neighbour_columns, duck_ids)
    spark_lists, _ = evaluation_neighbours(spark_rows, neighbour_columns, spark_ids)
    configs = {row[0].split("|")[0] for row in spark_lists}
    assert len(configs) == len(marts["recommendation_evaluation"]["rows"]), configs
    assert_same_recommendations(duck, spark_lists, columns)


def test_spark_builds_a_generated_file_like_duckdb(
    duckdb_generated: Path, spark_generated: SparkBuild, generated_sales: Path
) -> None:
    marts = spark_generated.marts
    rejected = marts["sales_rejected"]
    # A blank line comes right before the first malformed line: both engines give it the
    # same sales_line_id (assert_same_marts); the line number in rejection_detail is the
    # file's line on DuckDB, and the line among the non-blank ones on Spark. (Read before
    # assert_same_marts, which takes the numbers out of the rows it compares.)
    lines = generated_sales.read_text(encoding="utf-8").split("\n")
    physical = lines.index("00003,only-two") + 1
    assert lines[physical - 2] == ""
    blank_before = lines[: physical - 1].count("")
    details = {
        "duckdb": query(
            duckdb_generated,
            "select rejection_detail from sales_rejected where raw_line = '00003,only-two'",
        )[0][0],
        "spark": next(
            row[rejected["columns"].index("rejection_detail")]
            for row in rejected["rows"]
            if row[rejected["columns"].index("raw_line")] == "00003,only-two"
        ),
    }
    assert details["duckdb"].startswith(f"line {physical} of the file"), details
    assert details["spark"].startswith(f"line {physical - blank_before} of the file"), details
    assert_same_marts(duckdb_generated, spark_generated)
    # What the file was made to exercise is there: the tests can fail.
    reasons = {row[rejected["columns"].index("rejection_reason")] for row in rejected["rows"]}
    assert {
        "malformed line: too few fields",
        "malformed line: too many fields",
        "missing order_id",
        "missing product_id",
        'product_id contains ";", the separator of exported lists',
    } <= reasons
    products = {row[0] for row in marts["product_recommendations"]["rows"]}
    assert {"007", "07", "7", "日本茶", "p,comma", 'p"q'} <= products
    assert [row[0] for row in marts["orders_excluded"]["rows"]] == ["88888"]
    ties = [row for row in marts["product_recommendations"]["rows"] if row[0] == "tie-a"]
    assert [row[2] for row in ties[:2]] == ["tie-b", "tie-c"] and ties[0][3] == ties[1][3]


def run_export(args: list[str], env: dict[str, str] | None = None) -> None:
    result = run_command(
        [sys.executable, str(PROJECT_DIR / "scripts" / "export.py"), *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.parametrize("export_format", ["tutorial", "rich"])
def test_the_export_of_a_spark_build_is_the_duckdb_builds(
    tmp_path: Path, duckdb_generated: Path, spark_generated: SparkBuild, export_format: str
) -> None:
    stamp = ["--timestamp", "2026-01-01_00-00", "--format", export_format]
    run_export(["--duckdb", str(duckdb_generated), "--dest", str(tmp_path / "duckdb"), *stamp])
    run_export(
        ["--target", "spark", "--dest", str(tmp_path / "spark"), *stamp], env=spark_generated.env
    )
    name = "recommendations_2026-01-01_00-00"
    duck = (tmp_path / "duckdb" / f"{name}.json").read_bytes()
    spark = (tmp_path / "spark" / f"{name}.json").read_bytes()
    assert spark == duck and len(duck) > 100
    manifests = [
        json.loads((tmp_path / side / f"{name}.manifest.json").read_text(encoding="utf-8"))
        for side in ("duckdb", "spark")
    ]
    differ = {"created_at", "source_duckdb", "build"}
    assert {k: v for k, v in manifests[1].items() if k not in differ} == {
        k: v for k, v in manifests[0].items() if k not in differ
    }
    assert manifests[1]["source_duckdb"].startswith("spark:")
    assert (
        manifests[1]["build"]["command"] == "build"
        and not manifests[1]["allowed_failed_validation"]
    )


def test_parse_is_clean_on_spark_and_picks_the_sql_engine(tmp_path: Path) -> None:
    require_component("spark_extras")
    env = spark_env(tmp_path, "parse")
    result = run_dbt(
        ["parse", "--target", "spark", "--no-partial-parse", "--show-all-deprecations"],
        tmp_path,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "deprecat" not in output.lower() and "[WARNING]" not in output, output
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    enabled = {node["name"] for node in manifest["nodes"].values()}
    disabled = {nodes[0]["name"] for nodes in manifest["disabled"].values()}
    # dbt-spark runs no Python model: the sparse engine's model is off, the sql engine's on.
    assert "int_product_neighbours_sparse" in disabled
    assert {"int_product_similarities", "int_product_neighbours"} <= enabled


# A first-order measure with every parameter it reads (the order-size weights too):
# the production path of the first-order scores, on top of the evaluation's.
TABLE_BUILD_VARS = {
    "similarity_measure": "rp3beta",
    "rp3_alpha": 0.5,
    "rp3_beta": 0.25,
    "similarity_shrinkage": 2,
    "min_same_category_lift": 0,
    "min_same_category_rate": 0,
    "min_category_rate": 0,
}


def test_spark_reads_sales_from_a_metastore_table(
    tmp_path_factory: pytest.TempPathFactory, spark_root: Path, spark_sample: SparkBuild
) -> None:
    # The sample build's seed table, read through sales_relation by a build in another
    # schema (how Spark users hold their order lines), with a first-order measure;
    # DuckDB builds the seed with the same measure.
    from_table = spark_build(
        spark_root,
        "from_table",
        {**TABLE_BUILD_VARS, "sales_relation": f"{spark_sample.schema}.raw_sales"},
    )
    duckdb_path = build(tmp_path_factory.mktemp("duckdb_rp3beta"), dbt_vars=TABLE_BUILD_VARS)
    assert_same_marts(duckdb_path, from_table)
    recommendations = from_table.marts["product_recommendations"]
    measure = recommendations["columns"].index("similarity_measure")
    assert {row[measure] for row in recommendations["rows"]} == {"rp3beta"}
