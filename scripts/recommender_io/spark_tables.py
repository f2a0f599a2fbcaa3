"""The tables a `dbt build --target spark` made, read through the same profile.

profiles.yml's `spark` output (method session) says where the local Spark session
keeps its tables (spark.sql.warehouse.dir), its metastore and its schema, from
environment variables with defaults. This module renders that output the way dbt
does (env_var only) and opens a Spark session with the same settings, so that a
script run from the same folder with the same environment reads what dbt wrote.

SparkConnection offers what the readers use of a DuckDB connection: execute(sql,
params) with `?` parameters, then fetchall() and description; table_exists() looks
the table up in the profile's schema. pyspark is imported only when a session is
opened (it is an optional extra: `make install-spark`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROFILE_NAME = "recommender"
SPARK_TARGET = "spark"


class SparkTablesError(Exception):
    """The Spark build cannot be read; the message says what to do."""


@dataclass(frozen=True)
class SparkProfile:
    schema: str
    settings: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        warehouse = self.settings.get("spark.sql.warehouse.dir", "spark-warehouse")
        return f"Spark schema {self.schema} (warehouse {warehouse})"


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise SparkTablesError(f"profiles.yml needs the environment variable {name}")
    return default


def _render(value: Any) -> Any:
    if isinstance(value, str):
        return jinja2.Environment().from_string(value).render(env_var=_env_var)
    if isinstance(value, dict):
        return {key: _render(item) for key, item in value.items()}
    return value


def spark_profile(profiles_dir: Path | None = None, target: str = SPARK_TARGET) -> SparkProfile:
    """profiles.yml's output `target` (from $DBT_PROFILES_DIR, else the project), rendered."""
    folder = profiles_dir or Path(os.environ.get("DBT_PROFILES_DIR") or PROJECT_DIR)
    path = folder / "profiles.yml"
    try:
        outputs = yaml.safe_load(path.read_text(encoding="utf-8"))[PROFILE_NAME]["outputs"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise SparkTablesError(f"cannot read the {PROFILE_NAME} profile in {path}: {exc}") from exc
    if target not in outputs:
        raise SparkTablesError(f"{path} has no output {target!r}; it has {', '.join(outputs)}")
    output = _render(outputs[target])
    if output.get("type") != "spark" or output.get("method") != "session":
        raise SparkTablesError(
            f"output {target!r} of {path} is not a Spark session (type spark, method session): "
            "read a cluster's tables with its own tools, or export from a session build."
        )
    parameters = output.get("server_side_parameters") or {}
    settings = {str(key): str(value) for key, value in parameters.items()}
    return SparkProfile(schema=str(output["schema"]), settings=settings)


class _Result:
    def __init__(self, frame: Any) -> None:
        self.description = [(name, None) for name in frame.columns]
        self._rows = [tuple(row) for row in frame.collect()]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


class SparkConnection:
    """A Spark session on the profile's tables, read like a DuckDB connection."""

    def __init__(self, profile: SparkProfile) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise SparkTablesError(
                "pyspark is not installed: run `make install-spark` (README, Running on Spark)."
            ) from exc
        builder = SparkSession.builder.appName("recommender-reader").enableHiveSupport()
        for key, value in profile.settings.items():
            builder = builder.config(key, value)
        self.profile = profile
        self.session = builder.getOrCreate()
        if self._has_schema():
            self.session.sql(f"use `{profile.schema}`")

    def _has_schema(self) -> bool:
        names = [row[0] for row in self.session.sql("show schemas").collect()]
        return self.profile.schema in names

    def execute(self, sql: str, params: list[Any] | None = None) -> _Result:
        frame = self.session.sql(sql, args=list(params)) if params else self.session.sql(sql)
        return _Result(frame)

    def table_exists(self, name: str) -> bool:
        if not self._has_schema():
            return False
        return bool(self.session.catalog.tableExists(name, self.profile.schema))

    def close(self) -> None:
        self.session.stop()

    def __enter__(self) -> SparkConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_spark(profiles_dir: Path | None = None, target: str = SPARK_TARGET) -> SparkConnection:
    return SparkConnection(spark_profile(profiles_dir, target))
