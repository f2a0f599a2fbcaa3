"""Write tables of a Spark build as JSON (the Spark tests run it in its own process).

    python tests/python/spark_dump.py OUT.json TABLE [TABLE ...]

Reads through recommender_io.spark_tables (profiles.yml's spark output, its
environment variables), each table's rows as lists in the table's column order:
{"<table>": {"columns": [...], "rows": [[...], ...]}}; a missing table is null.
Its own process, so that the test process never holds the session's metastore
(Derby allows one process) while dbt or export.py need it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from recommender_io.spark_tables import open_spark


def plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def main(out: str, tables: list[str]) -> int:
    dumped: dict[str, Any] = {}
    with open_spark() as con:
        for table in tables:
            if not con.table_exists(table):
                dumped[table] = None
                continue
            result = con.execute(f"select * from {table}")
            dumped[table] = {
                "columns": [column[0] for column in result.description],
                "rows": [[plain(value) for value in row] for row in result.fetchall()],
            }
    Path(out).write_text(json.dumps(dumped), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
