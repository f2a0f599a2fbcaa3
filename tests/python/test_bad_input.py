"""The bad-input corpus (tests/fixtures/bad_input/): every messy extract has a written outcome.

Each file is one case real extracts have. Its outcome is either a clear error
naming the file and the problem (nothing built), or a build where every line is
used or quarantined in sales_rejected with a reason, and the counts reconcile:
lines in the file = lines read = accepted + rejected. The README table
"What happens when..." lists the same cases.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_DIR, dbt_env, query, run_dbt

CORPUS = PROJECT_DIR / "tests" / "fixtures" / "bad_input"
# What a build of a corpus file runs: staging, the pipeline, the quarantine and the
# reconciliation tests (not the validation marts nor the generic tests: other tests cover
# them, and each dbt build costs seconds).
SELECT = ["--select", "+product_recommendations +sales_rejected", "--exclude", "test_type:generic"]
RECONCILE_TESTS = (
    "assert_sales_lines_reconcile",
    "assert_some_sales_lines_accepted",
    "assert_malformed_lines_within_max_rejected_share",
)
SEMICOLON_REASON = 'product_id contains ";", the separator of exported lists'


def rows(db: Path, sql: str) -> list[tuple]:
    return query(db, sql)


def check_null_ids(db: Path) -> None:
    assert rows(db, "select sales_line_id, rejection_reason from sales_rejected order by 1") == [
        (3, "missing order_id"),
        (4, "missing product_id"),
        (5, "missing category"),
        (6, "missing order_id"),  # whitespace only
        (7, "missing product_id"),  # the text NULL
        (8, "missing category"),  # the text null
    ]
    assert rows(db, "select product_id from int_products order by 1") == [("p1",), ("p2",)]


def check_space_padded_ids(db: Path) -> None:
    assert rows(db, "select product_id from int_products order by 1") == [("042",), ("p9",)]
    assert rows(
        db, "select order_id, product_id, quantity from int_order_product_counts order by 1, 2"
    ) == [("o1", "042", 2), ("o1", "p9", 1), ("o2", "042", 1), ("o2", "p9", 1)]


def check_duplicate_lines(db: Path) -> None:
    # The tutorial counts repeats: a twice in o1 makes C[a, b] = 2*1 (o1) + 1*1 (o2).
    assert rows(
        db,
        "select quantity from int_order_product_counts where order_id = 'o1' and product_id = 'a'",
    ) == [(2,)]
    assert rows(
        db,
        "select pair_count from int_product_pair_counts as pairs"
        " inner join int_products as products using (product_key)"
        " where products.product_id = 'a'",
    ) == [(3,)]


def check_two_categories(db: Path) -> None:
    assert rows(
        db, "select category, category_count from int_products where product_id = 'p1'"
    ) == [("bakery", 2)]
    assert rows(
        db,
        "select category, line_count, is_primary_category from int_product_categories"
        " where product_id = 'p1' order by category",
    ) == [("bakery", 2, True), ("dairy", 1, False)]


def check_single_line_orders(db: Path) -> None:
    # Single-line orders are used (they count in the reconciliation) but pair nothing.
    assert rows(db, "select count(distinct order_id) from int_order_product_counts") == [(3,)]
    assert rows(db, "select count(*) from int_product_pair_counts") == [(2,)]  # a-b, b-a
    assert rows(db, "select count(*) from int_products where product_id = 'c'") == [(1,)]


def check_special_characters(db: Path) -> None:
    assert rows(db, "select product_id from int_products order by 1") == sorted(
        [
            ('Bob\'s "best" bread',),
            ("crackers, salted",),
            ("crème brûlée",),
            ("日本茶",),
            ('ab"c',),
        ]
    )
    assert rows(db, "select product_id, rejection_reason from sales_rejected order by 1") == [
        ("milk;1l", SEMICOLON_REASON),
        ("milk;2l", SEMICOLON_REASON),
    ]
    # An order id may contain ';' (it is never exported).
    assert rows(db, "select count(*) from int_order_product_counts where order_id = 'o;2'") == [
        (2,)
    ]
    recommended = {
        r[0] for r in rows(db, "select recommended_product_id from product_recommendations")
    }
    assert 'Bob\'s "best" bread' in recommended and "日本茶" in recommended


def check_leading_zeros(db: Path) -> None:
    assert rows(db, "select product_id from int_products order by 1") == [
        ("007",),
        ("0070",),
        ("7",),
    ]
    assert rows(db, "select distinct order_id from int_order_product_counts order by 1") == [
        ("0001",),
        ("1",),
    ]


def check_huge_order(db: Path) -> None:
    # One order of 3000 different products: 3000 * 2999 ordered pairs, all from that order.
    assert rows(db, "select count(*) from int_product_pair_counts") == [(3000 * 2999,)]
    assert rows(db, "select max(quantity) from int_order_product_counts") == [(1,)]


def check_crlf_line_breaks_in_cells(db: Path) -> None:
    assert rows(db, "select count(*) from stg_sales__lines") == [(6,)]
    assert rows(db, "select product_id, category from int_products order by 1") == [
        ("p1", "bakery"),
        ("p2", "bakery"),
        ("p3", "dairy"),
    ]


def malformed(db: Path) -> list[tuple]:
    return rows(
        db,
        "select sales_line_id, rejection_reason, raw_line, rejection_detail, source_file"
        " from sales_rejected where rejection_reason like 'malformed line:%' order by 1",
    )


def check_malformed_lines(db: Path) -> None:
    # Each malformed line at its own position (the header is not a line), the raw text kept.
    found = [
        (line, reason.removeprefix("malformed line: "), raw)
        for line, reason, raw, *_ in malformed(db)
    ]
    assert found == [
        (100, "too few fields", "o0025,p03"),
        (300, "too many fields", "o0075,p04,bakery,extra"),
        (450, "too many fields", 'o0112,"p05,dairy",x,y'),
        (604, "unterminated quote", 'o0151,"p06,dairy\n'),
    ]
    details = [detail for *_, detail, _ in malformed(db)]
    assert details[0].startswith("line 101 of the file (the header is line 1): ")
    assert all(source.endswith("malformed_lines.csv") for *_, source in malformed(db))
    # The accepted lines around them keep their own positions.
    lines = (CORPUS / "malformed_lines.csv").read_text().splitlines()[1:]
    around = rows(
        db,
        "select sales_line_id, order_id || ',' || product_id || ',' || category"
        " from stg_sales__lines where sales_line_id in (99, 101, 299, 301, 603) order by 1",
    )
    assert around == [(n, lines[n - 1]) for n in (99, 101, 299, 301, 603)]


def check_two_malformed_in_892(db: Path) -> None:
    # The file: DuckDB's sniffer read it as one column; now two lines are quarantined.
    found = [(line, raw) for line, _, raw, *_ in malformed(db)]
    assert found == [(401, "00998,0002"), (701, "00998,0002,food,extra")]
    assert rows(db, "select count(*) from stg_sales__lines where rejection_reason is null") == [
        (892,)
    ]


def check_semicolon_delimited(db: Path) -> None:
    assert rows(db, "select distinct category from int_products order by 1") == [
        ("bakery",),
        ("dairy, fresh",),
    ]


def check_one_latin1_line(db: Path) -> None:
    assert [(line, reason) for line, reason, *_ in malformed(db)] == [
        (151, "malformed line: not valid UTF-8")
    ]


def check_control_characters(db: Path) -> None:
    found = rows(db, "select sales_line_id, rejection_reason from sales_rejected order by 1")
    assert found == [
        (6, "product_id contains a control character"),  # NUL
        (7, "product_id contains a control character"),  # tab
        (8, "category contains a control character"),  # SOH
        (9, "order_id contains a control character"),  # DEL
        (10, "product_id contains a control character"),  # U+0085 (C1)
    ]
    assert rows(db, "select product_id from int_products order by 1") == [("p1",), ("p2",), ("p3",)]


def check_float_ids(db: Path) -> None:
    # pandas' float64 ids: 9.0 is the 9 the user wrote; 1.5 and 1e20 are not ids anyone wrote.
    assert rows(db, "select product_id from int_products order by 1") == [("10",), ("7",), ("9",)]
    assert rows(db, "select distinct order_id from int_order_product_counts order by 1") == [
        ("1",),
        ("2",),
        ("3",),
    ]
    float_reason = (
        "product_id is not a whole number in a float column (what was written is unknown)"
    )
    assert rows(db, "select sales_line_id, rejection_reason from sales_rejected order by 1") == [
        (6, float_reason),
        (7, "missing product_id"),
        (8, float_reason),
        (9, "missing order_id"),
    ]


@dataclass(frozen=True)
class Case:
    """One corpus file and what must happen to it."""

    file: str
    what: str
    # Accepted files: reasons of the quarantined lines and a check of the tables.
    rejected: dict[str, int] = field(default_factory=dict)
    check: Callable[[Path], None] | None = None
    # Refused files: fragments the error message must contain (besides the file name).
    error: tuple[str, ...] = ()
    # What to build instead of SELECT (the huge order stops before the cosine: minutes).
    select: tuple[str, ...] = ()
    # Warn-severity tests expected to warn.
    warns: tuple[str, ...] = ()
    # Accepted files: fragments the build's output must contain.
    output: tuple[str, ...] = ()


CASES = [
    Case(
        "null_ids.csv",
        "blank, whitespace-only or NULL ids and categories: line quarantined with its reason",
        rejected={"missing order_id": 2, "missing product_id": 2, "missing category": 2},
        check=check_null_ids,
    ),
    Case(
        "space_padded_ids.csv",
        "ids differing only by surrounding spaces: trimmed, they are one id",
        check=check_space_padded_ids,
    ),
    Case(
        "duplicate_lines.csv",
        "duplicate lines: kept, the product's quantity in the order counts them (the tutorial)",
        check=check_duplicate_lines,
    ),
    Case(
        "two_categories.csv",
        "a product under two categories: its most frequent category (ties: smallest name)",
        check=check_two_categories,
    ),
    Case(
        "single_line_orders.csv",
        "single-line orders: used, but they pair nothing",
        check=check_single_line_orders,
    ),
    Case(
        "special_characters.csv",
        "quotes, commas, non-ASCII kept verbatim; product ids with ';' quarantined",
        rejected={SEMICOLON_REASON: 2},
        check=check_special_characters,
    ),
    Case(
        "leading_zeros.csv",
        "integer-looking ids with leading zeros: text, '007' and '7' are different",
        check=check_leading_zeros,
    ),
    Case(
        "huge_order.csv",
        "one order with thousands of lines: used; the build warns (see max_order_lines)",
        check=check_huge_order,
        select=(
            "--select",
            "+int_product_pair_counts +sales_rejected +int_order_sizes",
            "--exclude",
            "test_type:generic",
        ),
        warns=("warn_largest_orders_dominate_pair_counting",),
    ),
    Case(
        "crlf_line_breaks_in_cells.csv",
        "CR LF row ends with LF inside quoted cells (Excel): read as is, not mixed endings",
        check=check_crlf_line_breaks_in_cells,
    ),
    Case(
        "malformed_lines.csv",
        "a few malformed lines (wrong number of fields, a quote left open on the last line)"
        " among 600: each quarantined at its position with the raw line",
        rejected={
            "malformed line: too few fields": 1,
            "malformed line: too many fields": 2,
            "malformed line: unterminated quote": 1,
        },
        check=check_malformed_lines,
    ),
    Case(
        "two_malformed_in_892.csv",
        "the issue's file: 892 lines, one of 2 fields and one of 4; no longer read as one column",
        rejected={"malformed line: too few fields": 1, "malformed line: too many fields": 1},
        check=check_two_malformed_in_892,
    ),
    Case(
        "semicolon_delimited.csv",
        "semicolons between fields, commas inside them: the header gives the delimiter",
        check=check_semicolon_delimited,
    ),
    Case(
        "one_latin1_line.csv.gz",
        "a gzipped CSV with one line that is not UTF-8: that line quarantined",
        rejected={"malformed line: not valid UTF-8": 1},
        check=check_one_latin1_line,
    ),
    Case(
        "mostly_malformed.csv",
        "most lines malformed: error saying how many, showing the first, where the rest are",
        error=(
            "12 of its 20 lines (60.0%) are malformed, more than max_rejected_share 0.01",
            "sales line 9 (too few fields)",
            "select * from stg_sales__lines where rejection_reason like 'malformed%'",
        ),
    ),
    Case(
        "open_quote_swallows.csv",
        "a quote opened and never closed: the rest of the file is one field; error",
        error=("a quote is opened and never closed", "sales line 50 (unterminated quote)"),
    ),
    Case(
        "control_characters.csv",
        "NUL, tab, SOH, DEL or a C1 character in an id or category: line quarantined, naming the"
        " field (PostgreSQL text cannot store NUL)",
        rejected={
            "product_id contains a control character": 3,
            "category contains a control character": 1,
            "order_id contains a control character": 1,
        },
        check=check_control_characters,
    ),
    Case(
        "float_ids.parquet",
        "ids in float columns (pandas' integer ids with a missing value): whole numbers read as"
        " integers ('9.0' is '9'), other values quarantined, the build says so",
        rejected={
            "product_id is not a whole number in a float column (what was written is unknown)": 2,
            "missing product_id": 1,
            "missing order_id": 1,
        },
        check=check_float_ids,
        output=("column(s) order_id, product_id are floats",),
    ),
    Case(
        "header_only.csv",
        "a header and no line: error, nothing built",
        error=("has a header but no sales lines",),
    ),
    Case(
        "empty.csv",
        "an empty (0-byte) file: error, nothing built",
        error=("is empty (0 bytes)",),
    ),
    Case(
        "missing_column.csv",
        "a required column missing: error naming the column and the columns found",
        error=("missing required column(s): product_id", "It has: order_id, product, category"),
    ),
    Case(
        "not_utf8.csv",
        "not UTF-8 (Latin-1): error saying so and how to convert it",
        error=("is not UTF-8 text", "iconv"),
    ),
    Case(
        "mixed_line_endings.csv",
        "CR LF and LF row ends in one file: error saying so and how to convert it",
        error=("mixes Windows (CR LF) and Unix (LF) line endings", "dos2unix"),
    ),
]


def lines_in(path: Path) -> int:
    """Sales lines in a CSV file as Python's csv module reads it (header excluded)."""
    if path.suffix == ".parquet":
        return duckdb.execute("select count(*) from read_parquet(?)", [str(path)]).fetchall()[0][0]
    if path.suffix == ".gz":  # one line of it is Latin-1 on purpose: count, do not decode
        text = gzip.decompress(path.read_bytes()).decode("latin-1")
        return sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1
    with path.open(newline="", encoding="utf-8") as handle:
        delimiter = ";" if path.name.startswith("semicolon") else ","
        return sum(1 for _ in csv.reader(handle, delimiter=delimiter)) - 1


def test_every_corpus_file_has_a_case() -> None:
    in_folder = {p.name for p in CORPUS.iterdir()}
    assert in_folder == {case.file for case in CASES} | {"all_rejected.csv"}


def test_readme_lists_every_case() -> None:
    page = (PROJECT_DIR / "docs" / "robustness.md").read_text()
    for case in CASES:
        assert case.file in page, f"docs/robustness.md ('What happens when...') misses {case.file}"


def dbt_statuses(workdir: Path) -> dict[str, str]:
    data = json.loads((workdir / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: r["status"] for r in data["results"]}


@pytest.mark.parametrize("case", [c for c in CASES if not c.error], ids=lambda c: c.file)
def test_accepted_file_builds_and_reconciles(case: Case, tmp_path: Path) -> None:
    path = CORPUS / case.file
    select = list(case.select or SELECT)
    result = run_dbt(["build", *select], tmp_path, dbt_vars={"sales_path": str(path)})
    assert result.returncode == 0, result.stdout[-5000:]
    db = tmp_path / "recommender.duckdb"

    statuses = dbt_statuses(tmp_path)
    for name in RECONCILE_TESTS:
        assert statuses[name] == "pass", f"{name}: {statuses[name]}"
    warned = {name for name, status in statuses.items() if status == "warn"}
    assert warned == set(case.warns)
    lines_read = rows(db, "select count(*) from stg_sales__lines")[0][0]
    accepted = rows(db, "select coalesce(sum(quantity), 0) from int_order_product_counts")[0][0]
    rejected = rows(db, "select rejection_reason, count(*) from sales_rejected group by 1")
    assert lines_read == lines_in(path), "DuckDB read a different number of lines than the file has"
    assert accepted + sum(n for _, n in rejected) == lines_read
    assert dict(rejected) == case.rejected
    for fragment in case.output:
        assert fragment in result.stdout, result.stdout[-3000:]
    if case.check:
        case.check(db)


@pytest.mark.parametrize("case", [c for c in CASES if c.error], ids=lambda c: c.file)
def test_refused_file_fails_with_a_clear_error(case: Case, tmp_path: Path) -> None:
    path = CORPUS / case.file
    result = run_dbt(["build", *SELECT], tmp_path, dbt_vars={"sales_path": str(path)})
    assert result.returncode != 0
    assert f"Sales file '{path}'" in result.stdout, result.stdout[-3000:]
    for fragment in case.error:
        assert fragment in result.stdout, result.stdout[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    # Nothing downstream was built from it.
    tables = rows(
        tmp_path / "recommender.duckdb", "select table_name from information_schema.tables"
    )
    assert ("product_recommendations",) not in tables


def test_every_line_rejected_fails_the_build_but_keeps_the_reasons(tmp_path: Path) -> None:
    # Empty recommendations would look like a success (and export nothing): refuse them.
    path = CORPUS / "all_rejected.csv"
    result = run_dbt(["build", *SELECT], tmp_path, dbt_vars={"sales_path": str(path)})
    assert result.returncode != 0
    assert dbt_statuses(tmp_path)["assert_some_sales_lines_accepted"] == "fail"
    assert "assert_some_sales_lines_accepted" in result.stdout
    assert rows(tmp_path / "recommender.duckdb", "select count(*) from sales_rejected") == [(3,)]


@pytest.mark.parametrize(
    ("sales_path", "fragment"),
    [
        ("tests/fixtures/bad_input/no_such_file.csv", "does not exist (no file matches it)"),
        ("tests/fixtures/bad_input/sales.xlsx", "must end in .csv, .csv.gz, .tsv or .parquet"),
        ("/tmp/it's here/*.csv", "does not exist"),  # a quote in the path stays data
    ],
)
def test_bad_sales_path_fails_with_a_clear_error(
    sales_path: str, fragment: str, tmp_path: Path
) -> None:
    result = run_dbt(["build", *SELECT], tmp_path, dbt_vars={"sales_path": sales_path})
    assert result.returncode != 0
    assert sales_path in result.stdout and fragment in result.stdout, result.stdout[-3000:]
    assert "Parser Error" not in result.stdout


def test_a_csv_too_big_to_check_in_memory_is_left_to_the_reader(tmp_path: Path) -> None:
    # The UTF-8 and line-ending checks read a file whole into DuckDB's memory; above
    # 256 MiB they are skipped (and said so) instead of failing with "Out of Memory"
    # under a memory limit smaller than the file, as they did.
    block = "".join(f"o{i},p{i % 97},c{i % 7}\n" for i in range(100_000)).encode()
    path = tmp_path / "big.csv"
    blocks = 257 * 1024 * 1024 // len(block) + 1
    with path.open("wb") as handle:
        handle.write(b"order_id,product_id,category\n")
        for _ in range(blocks):
            handle.write(block)
    assert path.stat().st_size > 256 * 1024 * 1024
    result = run_dbt(
        ["run", "--select", "stg_sales__lines"],
        tmp_path,
        dbt_vars={"sales_path": str(path)},
        env={"DUCKDB_MEMORY_LIMIT": "256MB"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Sales file '{path}' is larger than 256 MiB" in result.stdout
    assert rows(tmp_path / "recommender.duckdb", "select count(*) from stg_sales__lines") == [
        (blocks * 100_000,)
    ]


def stage_only(workdir: Path, sales_path: Path) -> Path:
    """`dbt run --select stg_sales__lines` on sales_path: the DuckDB file it built."""
    result = run_dbt(
        ["run", "--select", "stg_sales__lines"],
        workdir,
        dbt_vars={"sales_path": str(sales_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return workdir / "recommender.duckdb"


def test_malformed_lines_in_a_glob_keep_their_positions(tmp_path: Path) -> None:
    # The same lines split over two files read as one input: every line, accepted or
    # malformed, has the position it has in the single file (files in name order).
    lines = (CORPUS / "malformed_lines.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part_1.csv").write_text("\n".join([header, *body[:200]]) + "\n")
    (folder / "part_2.csv").write_text("\n".join([header, *body[200:]]) + "\n")
    positions = "select sales_line_id, rejection_reason, order_id, product_id from stg_sales__lines"
    results = {}
    for name, sales_path in (
        ("single", CORPUS / "malformed_lines.csv"),
        ("glob", folder / "*.csv"),
    ):
        results[name] = sorted(rows(stage_only(tmp_path / name, sales_path), positions))
    assert len(results["glob"]) == len(body)
    assert results["glob"] == results["single"]
    files = rows(
        tmp_path / "glob" / "recommender.duckdb",
        "select sales_line_id, source_file from stg_sales__lines"
        " where rejection_reason like 'malformed%' order by 1",
    )
    assert [(line, Path(source).name) for line, source in files] == [
        (100, "part_1.csv"),
        (300, "part_2.csv"),
        (450, "part_2.csv"),
        (604, "part_2.csv"),
    ]


# Blank lines are not sales lines (DuckDB's reader and Spark's skip them), but DuckDB's
# rejects table counts them in a rejected line's number. Each record with the id it must
# get: its place among the file's records, blank lines left out (None: a blank line).
BLANK_LINES_FILE = [
    (None, ""),  # right after the header
    (1, "o1,p1,bakery"),
    (2, "o1,p2,bakery"),
    (None, ""),  # before a malformed line
    (3, "o2,p1"),  # too few fields
    (4, "o2,p3,dairy"),
    (None, ""),  # several in a row, before a good line
    (None, ""),
    (None, ""),
    (5, "o3,p2,bakery"),
    (6, "o3,p4,dairy,extra"),  # too many fields, right after a good line
    (7, 'o4,"p5\nstill p5",dairy'),  # a quoted line break: one record on two lines
    (None, ""),
    (None, ""),
    (8, "o4,p6"),  # too few fields, after two blank lines
    (9, "o5,p1,bakery"),
    (None, ""),
    (10, 'o5,"p7,dairy'),  # a quote left open: the last record
]
BLANK_LINES_MALFORMED = {3, 6, 8, 10}


def test_blank_lines_do_not_count_in_sales_line_ids(tmp_path: Path) -> None:
    # Every line, accepted or rejected, is numbered 1..N in file order, for one file and for
    # the same records split over two files read as one glob.
    header = "order_id,product_id,category"
    records = [text for _, text in BLANK_LINES_FILE]
    single = tmp_path / "blank_lines.csv"
    single.write_text("\n".join([header, *records]) + "\n")
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part_1.csv").write_text("\n".join([header, *records[:8]]) + "\n")
    (folder / "part_2.csv").write_text("\n".join([header, "", *records[8:]]) + "\n")
    expected = [
        (line_id, line_id in BLANK_LINES_MALFORMED, text)
        for line_id, text in BLANK_LINES_FILE
        if line_id is not None
    ]
    for name, sales_path in (("single", single), ("glob", folder / "*.csv")):
        found = rows(
            stage_only(tmp_path / name, sales_path),
            "select sales_line_id, coalesce(rejection_reason like 'malformed%', false),"
            " coalesce(raw_line, order_id || ',' || product_id || ',' || category)"
            " from stg_sales__lines order by sales_line_id",
        )
        # Accepted lines are compared without their quotes (the reader took them off), the
        # open quote's line without the line break it swallowed (check_malformed_lines).
        assert [
            (line_id, rejected, text.removesuffix("\n") if rejected else text.replace('"', ""))
            for line_id, rejected, text in found
        ] == [
            (line_id, rejected, text if rejected else text.replace('"', ""))
            for line_id, rejected, text in expected
        ], name


def test_a_file_of_only_an_over_long_line_keeps_it_among_blank_lines(tmp_path: Path) -> None:
    # The second read that finds the blank lines cannot read a line over DuckDB's maximum
    # either; a file of a glob holding nothing else must still keep its rejected line.
    header = "order_id,product_id,category"
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("\n".join([header, "", "o1,p1,x", "", "o1,bad"]) + "\n")
    (folder / "b.csv").write_text("\n".join([header, "x" * 3_000_000 + ",p,c"]) + "\n")
    (folder / "c.csv").write_text("\n".join([header, "", "o3,p3,y"]) + "\n")
    found = rows(
        stage_only(tmp_path / "build", folder / "*.csv"),
        "select sales_line_id, coalesce(rejection_reason, order_id), source_file"
        " from stg_sales__lines order by sales_line_id",
    )
    assert [(line_id, what, Path(source).name) for line_id, what, source in found] == [
        (1, "o1", "a.csv"),
        (2, "malformed line: too few fields", "a.csv"),
        (3, "malformed line: too long", "b.csv"),
        (4, "o3", "c.csv"),
    ]


def corpus_as_one_file(folder: Path) -> Path:
    """Every accepted CSV of the corpus in one file, its lines as they were (malformed ones
    stay malformed); each file's orders kept apart by prefixing its name to the order id."""
    out = folder / "whole_corpus.csv"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["order_id", "product_id", "category"])
        for case in CASES:
            path = CORPUS / case.file
            if case.error or path.suffix != ".csv":
                continue
            delimiter = ";" if path.name.startswith("semicolon") else ","
            with path.open(newline="", encoding="utf-8") as source:
                records = list(csv.reader(source, delimiter=delimiter))
            header = [name.strip().lower() for name in records[0]]
            picks = [header.index(name) for name in ("order_id", "product_id", "category")]
            for record in records[1:]:
                if len(record) != len(header):
                    writer.writerow(record)  # malformed: as it was
                    continue
                order_id, product_id, category = (record[i] for i in picks)
                if order_id.strip() and order_id.strip().lower() != "null":
                    order_id = f"{path.stem}/{order_id}"
                writer.writerow([order_id, product_id, category])
    return out


def export_and_load(db: Path, workdir: Path, dsn: str) -> None:
    env = {**dbt_env(workdir, db)}
    for script, args in (
        (
            "export.py",
            ["--duckdb", str(db), "--dest", str(workdir / "exports"), "--format", "rich"],
        ),
        ("load_postgres.py", ["--source", str(workdir / "exports"), "--dsn", dsn]),
    ):
        result = subprocess.run(
            [sys.executable, str(PROJECT_DIR / "scripts" / script), *args],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"{script}:\n{result.stdout[-2000:]}\n{result.stderr}"


def served_matches_the_mart(db: Path, dsn: str) -> list[tuple]:
    import psycopg

    columns = (
        "product_id, recommendation_rank, recommended_product_id, pair_count,"
        " product_category, recommended_category, similarity"
    )
    mart = rows(db, f"select {columns} from product_recommendations order by 1, 2")
    with psycopg.connect(dsn) as con:
        served = con.execute(f"select {columns} from product_recommendations order by 1, 2")
        served_rows = [tuple(row) for row in served.fetchall()]
    assert mart and len(served_rows) == len(mart)
    assert [row[:-1] for row in served_rows] == [row[:-1] for row in mart]
    assert all(abs(a[-1] - b[-1]) <= 1e-12 for a, b in zip(served_rows, mart, strict=True))
    return served_rows


def test_an_export_of_the_whole_corpus_loads_into_postgresql(
    tmp_path: Path, postgres_dsn: str
) -> None:
    sales = corpus_as_one_file(tmp_path)
    workdir = tmp_path / "csv"
    # The huge order would take the cosine minutes: max_order_lines leaves its pairs out.
    dbt_vars = {"sales_path": str(sales), "max_order_lines": 500}
    result = run_dbt(["build", *SELECT], workdir, dbt_vars=dbt_vars)
    assert result.returncode == 0, result.stdout[-5000:]
    db = workdir / "recommender.duckdb"
    reasons = dict(rows(db, "select rejection_reason, count(*) from sales_rejected group by 1"))
    assert reasons["product_id contains a control character"] == 3
    assert reasons["malformed line: too many fields"] == 3
    export_and_load(db, workdir, postgres_dsn)
    served = served_matches_the_mart(db, postgres_dsn)
    served_ids = {value for row in served for value in row[:3] if isinstance(value, str)}
    assert {'Bob\'s "best" bread', "日本茶", "crème brûlée", "0070", "7"} <= served_ids
    assert not any(
        ord(char) < 32 or 127 <= ord(char) < 160
        for row in served
        for value in row
        if isinstance(value, str)
        for char in value
    )

    # The float ids, from Parquet, arrive as the integers they were.
    workdir = tmp_path / "parquet"
    dbt_vars = {"sales_path": str(CORPUS / "float_ids.parquet")}
    result = run_dbt(["build", *SELECT], workdir, dbt_vars=dbt_vars)
    assert result.returncode == 0, result.stdout[-5000:]
    db = workdir / "recommender.duckdb"
    export_and_load(db, workdir, postgres_dsn)
    served = served_matches_the_mart(db, postgres_dsn)
    assert {row[0] for row in served} == {"7", "9", "10"}
