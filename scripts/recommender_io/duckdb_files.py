"""The DuckDB file a command reads, and DuckDB's reader for a CSV or Parquet path."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import duckdb

DUCKDB_ENV = "DUCKDB_PATH"
DEFAULT_DUCKDB = "recommender.duckdb"
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")


class DuckDBFileError(Exception):
    """The DuckDB file cannot be used; the message says what to do."""


def default_duckdb_path() -> Path:
    """$DUCKDB_PATH, else recommender.duckdb: the file dbt builds (profiles.yml)."""
    return Path(os.environ.get(DUCKDB_ENV) or DEFAULT_DUCKDB)


def add_duckdb_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The --duckdb option every script has, with the same default and wording."""
    parser.add_argument(
        "--duckdb",
        type=Path,
        default=default_duckdb_path(),
        help=f"{what} (default: ${DUCKDB_ENV} or {DEFAULT_DUCKDB})",
    )


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a DuckDB file dbt built, or DuckDBFileError saying why not."""
    if not path.is_file():
        raise DuckDBFileError(
            f"the DuckDB file {path} does not exist. Build it first (`make run`), or point "
            f"--duckdb / {DUCKDB_ENV} at the file dbt built."
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DuckDBFileError(
            f"cannot open {path} read-only: {exc}. If dbt is building into it, wait until it "
            "finishes and run again."
        ) from exc


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the database has table (or view) `name`; a Spark build's connection
    (spark_tables.SparkConnection) looks in its own catalogue."""
    if hasattr(con, "table_exists"):
        return bool(con.table_exists(name))
    rows = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchall()
    return rows[0][0] > 0


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_reader(path: Path) -> str:
    """DuckDB's table function reading `path` (CSV, TSV, gzipped CSV or Parquet) as text."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return f"read_parquet({sql_literal(str(path))})"
    if name.endswith(CSV_SUFFIXES):
        return f"read_csv({sql_literal(str(path))}, header = true, all_varchar = true)"
    raise ValueError(f"{path} must be a .csv, .csv.gz, .tsv or .parquet file")
