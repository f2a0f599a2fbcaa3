"""The dbt builds (DuckDB and Spark), timed, and what their logs and run_results.json say."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import duckdb

from . import PROJECT_DIR
from .measure import Measurement, timed_run

# Every build must complete (issue 15): the validation gates' thresholds are 0.
BUILD_VARS = {"min_same_category_lift": 0, "min_same_category_rate": 0, "min_category_rate": 0}
# dbt_spark (a local Spark session, `make install-spark`) only up to this many lines:
# Spark runs each model as a job, practical on small inputs only on one machine.
SPARK_MAX_LINES = 200_000
# dbt prints this (info level) whenever it falls back to a full parse.
FULL_PARSE_MESSAGE = "Unable to do partial parsing"
# and this (debug level, in logs/dbt.log) when it reuses its saved parse.
PARTIAL_PARSE_MESSAGE = "Partial parsing enabled"


def dbt_executable() -> str:
    """The dbt of this virtualenv, beside the Python that runs the script."""
    return str(Path(sys.executable).parent / "dbt")


def dbt_env(run_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for a dbt command of this project whose target/ and logs/ are in run_dir.

    settings add to it (DUCKDB_PATH, DBT_THREADS, ...); profiles.yml is the project's.
    """
    return {
        **os.environ,
        "DBT_TARGET_PATH": str(run_dir / "target"),
        "DBT_LOG_PATH": str(run_dir / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        **settings,
    }


def run_dbt(
    method: str, sales: Path, workdir: Path, threads: int, timeout: float
) -> tuple[Measurement, dict]:
    """Time `dbt build` on sales: "dbt" from scratch, "dbt_rebuild" again in dbt's folders.

    Both use workdir/dbt: DUCKDB_PATH, target/ and logs/ there. "dbt" empties
    it first (full parse); "dbt_rebuild" deletes only the DuckDB file (and its
    .wal), keeping target/ and logs/ so that dbt can partially parse.
    """
    run_dir = workdir / "dbt"
    database = run_dir / "recommender.duckdb"
    dbt_log = run_dir / "logs" / "dbt.log"
    if method == "dbt":
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
    else:
        for path in (database, database.with_name(database.name + ".wal")):
            path.unlink(missing_ok=True)
    dbt_log_offset = dbt_log.stat().st_size if dbt_log.exists() else 0
    env = dbt_env(
        run_dir,
        DUCKDB_PATH=str(database),
        DBT_THREADS=str(threads),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
    )
    command = [
        dbt_executable(),
        "build",
        "--vars",
        json.dumps({"sales_path": str(sales), **BUILD_VARS}),
    ]
    log = run_dir / f"{method}_build.log"
    code, wall, cpu, peak = timed_run(command, env, log, timeout)
    measurement = Measurement(method, wall=wall, cpu=cpu, peak_rss=peak)
    debug_log = new_log_text(dbt_log, dbt_log_offset)
    details: dict = {
        "full_parse": full_parse_reason(log, debug_log),
        "parse_seconds": parse_seconds(debug_log),
    }
    run_results = run_dir / "target" / "run_results.json"
    failed = failed_nodes(run_results)
    if code != 0 and (not run_results.exists() or any(not n.startswith("test.") for n in failed)):
        measurement.status = f"failed (exit {code}; see {log})"
        return measurement, details
    qualifiers = []
    if method == "dbt_rebuild" and details["full_parse"]:
        # The rebuild should reuse the first build's parse: make a regression visible.
        reason = details["full_parse"].removesuffix("Starting full parse.").strip(" .")
        qualifiers.append(f"full parse ({reason[:80]})")
    if failed:
        # Typically the validation gates on real data: the tables are built.
        names = ", ".join(n.split(".")[2] for n in failed)
        qualifiers.append(f"{len(failed)} test(s) failed: {names}")
    measurement.status = ", ".join(["ok", *qualifiers])
    details["duckdb_bytes"] = database.stat().st_size
    details["nodes"] = node_timings(run_results, wall)
    result = run_dir / f"{method}_result.parquet"
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute(
            "copy (select product_id, recommendation_rank, recommended_product_id, similarity "
            f"from product_recommendations) to '{result}' (format parquet)"
        )
    measurement.result = result
    return measurement, details


def run_dbt_spark(sales: Path, lines: int, workdir: Path, timeout: float) -> Measurement:
    """Time `dbt build --target spark` on sales in a fresh local warehouse (pyspark needed;
    inputs above SPARK_MAX_LINES are skipped). Its result is read from the table's
    Parquet files, which Spark writes in its warehouse."""
    if importlib.util.find_spec("pyspark") is None:
        return Measurement("dbt_spark", status="skipped: no pyspark (make install-spark)")
    if lines > SPARK_MAX_LINES:
        return Measurement("dbt_spark", status=f"skipped: above {SPARK_MAX_LINES:,} lines")
    run_dir = workdir / "dbt_spark"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = dbt_env(
        run_dir,
        SPARK_WAREHOUSE_DIR=str(run_dir / "warehouse"),
        SPARK_METASTORE_DIR=str(run_dir / "metastore_db"),
        SPARK_SCHEMA="benchmark",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
    )
    command = [
        dbt_executable(),
        "build",
        "--target",
        "spark",
        "--vars",
        json.dumps({"sales_path": str(sales), **BUILD_VARS}),
    ]
    log = run_dir / "dbt_spark_build.log"
    code, wall, cpu, peak = timed_run(command, env, log, timeout)
    measurement = Measurement("dbt_spark", wall=wall, cpu=cpu, peak_rss=peak)
    failed = failed_nodes(run_dir / "target" / "run_results.json")
    if code != 0 and any(not name.startswith("test.") for name in failed):
        measurement.status = f"failed (exit {code}; see {log})"
        return measurement
    if failed:
        measurement.status = f"ok, {len(failed)} test(s) failed"
    table = run_dir / "warehouse" / "benchmark.db" / "product_recommendations"
    result = run_dir / "dbt_spark_result.parquet"
    duckdb.sql(
        "copy (select product_id, recommendation_rank, recommended_product_id, similarity "
        f"from read_parquet('{table}/*.parquet')) to '{result}' (format parquet)"
    )
    measurement.result = result
    return measurement


def new_log_text(dbt_log: Path, offset: int) -> str:
    """What this run added to dbt's debug log (logs/dbt.log), "" if there is none."""
    if not dbt_log.exists():
        return ""
    with dbt_log.open("rb") as log:
        if dbt_log.stat().st_size >= offset:  # else dbt rotated the log: read it all
            log.seek(offset)
        return log.read().decode(errors="replace")


def full_parse_reason(stdout_log: Path, debug_log: str) -> str:
    """Why dbt did a full parse in this run, or "" when it reused its saved parse.

    dbt prints "Unable to do partial parsing because ..." when it falls back to
    a full parse; when it does not, its debug log of this run must say
    "Partial parsing enabled".
    """
    for line in stdout_log.read_text(errors="replace").splitlines():
        if FULL_PARSE_MESSAGE in line:
            return line.split(FULL_PARSE_MESSAGE, 1)[1].strip().removeprefix("because ")
    if PARTIAL_PARSE_MESSAGE not in debug_log:
        return f"no {PARTIAL_PARSE_MESSAGE!r} in logs/dbt.log"
    return ""


def parse_seconds(debug_log: str) -> float | None:
    """Seconds from "Registered adapter" to "Found N models" in dbt's debug log.

    That is the (full or partial) parse, the manifest written included; None
    when either line or its timestamp is missing.
    """
    stamps = {}
    for line in debug_log.splitlines():
        for key, marker in (("start", "Registered adapter:"), ("end", "]: Found ")):
            if key not in stamps and marker in line:
                match = re.search(r"(\d\d):(\d\d):(\d\d\.\d+)", line)
                if match:
                    hours, minutes, seconds = match.groups()
                    stamps[key] = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if len(stamps) < 2:
        return None
    return (stamps["end"] - stamps["start"]) % 86400  # across midnight too


def failed_nodes(run_results: Path) -> list[str]:
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text())["results"]
    return [r["unique_id"] for r in results if r["status"] in ("error", "fail", "runtime error")]


def node_timings(run_results: Path, wall: float) -> dict:
    """Where dbt's time went: start-up, models, tests, the slowest nodes."""
    results = json.loads(run_results.read_text())
    nodes = [(r["execution_time"], r["unique_id"]) for r in results["results"]]
    by_kind: dict[str, float] = {}
    for seconds, unique_id in nodes:
        kind = unique_id.split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    slowest = sorted(nodes, reverse=True)[:4]
    return {
        "outside_nodes": wall - results["elapsed_time"],
        "by_kind": by_kind,
        "slowest": [(round(s, 1), uid.split(".")[2]) for s, uid in slowest],
        "count": len(nodes),
    }
