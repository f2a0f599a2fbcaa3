"""Benchmark the project's `dbt build` against the tutorial and a plain sparse pipeline.

On the same input files, in one session, each method runs in its own
subprocess (so peak memory is per method):

- dbt (first build: fresh target/, full parse): the project's
  `dbt build --vars '{sales_path: ...}'` as a user runs it the first time,
  into its own temporary DuckDB file and an empty target/ folder, timed end to
  end, dbt's full parse of the project included;
- dbt_rebuild (same command again: dbt's partial parse, as a scheduled
  rebuild): right after `dbt`, the identical command once more with the same
  DUCKDB_PATH, target/ and logs/; the DuckDB file is deleted first, so the
  build starts from an empty database as the first did, but dbt reuses its
  saved parse (target/partial_parse.msgpack), as a user's scheduled rebuild on
  new data at the same path does. Its status says "full parse" if dbt did not
  manage a partial parse (a regression to look into);
- tutorial: the tutorial's pandas + scikit-learn code, verbatim apart from the
  pandas-3 fix for np.fill_diagonal; skipped, with the memory it would need,
  when that exceeds the memory available;
- sparse: a straightforward scipy.sparse + sparse_dot_topn pipeline written
  here, independent of the project's code: the reference for the ratios;
- dbt_spark: `dbt build --target spark` in a local Spark session (docs/spark.md),
  only when pyspark is installed (`make install-spark`) and on inputs of up to
  SPARK_MAX_LINES lines.

For each: wall time, CPU time, peak RSS of the process tree, the ratio of wall
time to the sparse pipeline, and a parity check against the dbt result
(similarities within 1e-9, lists equal up to ties). For both dbt runs, where
the time went (from target/run_results.json): dbt outside its nodes (start-up,
parse, compile: what the partial parse saves), models, tests, slowest nodes.
Methods run in the order dbt, dbt_rebuild, sparse, tutorial, dbt_spark whatever the
order given to --methods; dbt_rebuild needs dbt. The builds run with the
validation gates' thresholds at 0 (BUILD_VARS), so that every build completes.
Inputs are generated with
scripts/generate_sales.py (cached in --data-dir) plus any --sales PATH; by
default the real sets in ../shared/datasets/ are added when present.

Examples:
    python scripts/benchmark.py                       # default sizes, real sets, all methods
    python scripts/benchmark.py --sizes 818k/23.8k/20/134/0.5/0 --no-datasets
    python scripts/benchmark.py --sizes 10k/1k,100k/2k --no-datasets
    python scripts/benchmark.py --sizes 10k/1k --no-datasets --methods dbt,dbt_rebuild,sparse
    python scripts/benchmark.py --sales /data/my_sales.parquet --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil
from recommender_io.duckdb_files import file_reader as duckdb_reader

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATASETS_DIR = PROJECT_DIR.parent / "shared" / "datasets"
# The generated inputs of `make bench`: two with the line and product counts of
# the real sets of issue 15 (818k lines / 23.8k products, 1.47M / 68.5k), over
# 134 categories, shaped so that the sparse script takes about as long on each,
# relative to the instacart slice in the same run, as on the real set (3.5-4x and
# ~20x): 818k with 20 lines an order, half of them from the order's category and
# no repeated lines; 1.47M with 30 lines an order (the generator's lean and
# repeats). And one 5M-line set (4 lines an order) for the 2 GB bound.
# LINES/PRODUCTS[/MEAN_ORDER_LINES/CATEGORIES[/CATEGORY_LEAN/REPEAT_RATE]];
# --sizes 10k/1k,100k/2k,1M/5k for the small ones of earlier runs.
DEFAULT_SIZES = "818k/23.8k/20/134/0.5/0,1.47M/68.5k/30/134,5M/20k"
# Every build must complete (issue 15): the validation gates' thresholds are 0.
BUILD_VARS = {"min_same_category_lift": 0, "min_same_category_rate": 0, "min_category_rate": 0}
TOP_K = 5
SIMILARITY_TOLERANCE = 1e-9
START_MARKER = "<!-- benchmark:start -->"
END_MARKER = "<!-- benchmark:end -->"
METHODS = ("dbt", "dbt_rebuild", "sparse", "tutorial", "dbt_spark")
DBT_METHODS = ("dbt", "dbt_rebuild")
# dbt_spark (a local Spark session, `make install-spark`) only up to this many lines:
# Spark runs each model as a job, practical on small inputs only on one machine.
SPARK_MAX_LINES = 200_000
METHOD_LABELS = {
    "dbt_spark": "dbt_spark (dbt build --target spark: a local session, the sql engine)",
    "dbt": "dbt (first build: fresh target/, full parse)",
    "dbt_rebuild": "dbt_rebuild (same command again: dbt's partial parse, as a scheduled rebuild)",
}
# dbt prints this (info level) whenever it falls back to a full parse.
FULL_PARSE_MESSAGE = "Unable to do partial parsing"
# and this (debug level, in logs/dbt.log) when it reuses its saved parse.
PARTIAL_PARSE_MESSAGE = "Partial parsing enabled"


@dataclass
class Measurement:
    method: str
    status: str = "ok"
    wall: float = float("nan")
    cpu: float = float("nan")
    peak_rss: int = 0
    result: Path | None = None
    parity: str = ""
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the methods
# Each runs in a child process (`--child METHOD`) and writes its top-k as
# Parquet: product_id, recommendation_rank, recommended_product_id, similarity.


def read_sales(path: Path) -> pd.DataFrame:
    """order_id, product_id, category as text, as the tutorial's sales_df.

    Surrounding spaces are trimmed, as the project's staging does (' 042' and
    '042' are one product), so that every method sees the same products.
    """
    if path.suffix == ".parquet":  # pandas would need pyarrow for Parquet
        frame = duckdb.sql(
            f"select order_id::varchar as order_id, product_id::varchar as product_id, "
            f"category::varchar as category from {duckdb_reader(path)}"
        ).df()
    else:
        columns = ["order_id", "product_id", "category"]
        frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
    return frame.apply(lambda column: column.str.strip())


def tutorial_method(sales_df: pd.DataFrame) -> pd.DataFrame:
    """The tutorial's code, unchanged except where pandas 3 requires it."""
    from sklearn.metrics.pairwise import cosine_similarity

    pivot_df = pd.pivot_table(
        sales_df, index="order_id", columns="product_id", values="category", aggfunc="count"
    )
    pivot_df.reset_index(inplace=True)
    pivot_df = pivot_df.fillna(0)
    pivot_df = pivot_df.drop("order_id", axis=1)

    co_matrix = pivot_df.T.dot(pivot_df)
    # pandas 3 (copy-on-write): .values is read-only, so fill a copy.
    values = co_matrix.to_numpy(copy=True)
    np.fill_diagonal(values, 0)
    co_matrix = pd.DataFrame(values, index=co_matrix.index, columns=co_matrix.columns)

    cos_score_df = pd.DataFrame(cosine_similarity(co_matrix))
    cos_score_df.index = co_matrix.index
    cos_score_df.columns = np.array(co_matrix.index)

    # Take top five scoring recs that aren't the original product
    product_recs = []
    for i in cos_score_df.index:
        product_recs.append(
            cos_score_df[cos_score_df.index != i][i].sort_values(ascending=False)[0:5].index
        )

    # Beyond the tutorial: keep each pick's similarity for the parity check.
    rows = []
    for product, recs in zip(cos_score_df.index, product_recs, strict=True):
        for rank, recommended in enumerate(recs, start=1):
            rows.append((product, rank, recommended, cos_score_df.at[recommended, product]))
    return pd.DataFrame(
        rows,
        columns=["product_id", "recommendation_rank", "recommended_product_id", "similarity"],
    )


def sparse_method(sales_df: pd.DataFrame, n_threads: int) -> pd.DataFrame:
    """scipy.sparse for C = X^T X, sparse_dot_topn for the cosine top-k."""
    import scipy.sparse as sp
    from sparse_dot_topn import sp_matmul_topn

    products, product_codes = np.unique(sales_df["product_id"].to_numpy(), return_inverse=True)
    order_codes, _ = pd.factorize(sales_df["order_id"])
    x = sp.csr_matrix(
        (np.ones(order_codes.size, dtype=np.int64), (order_codes, product_codes)),
        shape=(int(order_codes.max()) + 1, products.size),
    )
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    normalized = (sp.diags(inverse) @ c.astype(np.float64)).tocsr()
    top = sp_matmul_topn(
        normalized, normalized.T.tocsr(), top_n=TOP_K + 1, n_threads=n_threads
    ).tocoo()
    keep = (top.row != top.col) & (top.data > 0)
    frame = pd.DataFrame({"row": top.row[keep], "col": top.col[keep], "similarity": top.data[keep]})
    frame = frame.sort_values(["row", "similarity", "col"], ascending=[True, False, True])
    frame["recommendation_rank"] = frame.groupby("row").cumcount() + 1
    frame = frame[frame["recommendation_rank"] <= TOP_K]
    return pd.DataFrame(
        {
            "product_id": products[frame["row"].to_numpy()],
            "recommendation_rank": frame["recommendation_rank"].to_numpy(),
            "recommended_product_id": products[frame["col"].to_numpy()],
            "similarity": frame["similarity"].to_numpy(),
        }
    )


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"copy frame to '{path}' (format parquet)")


def read_parquet(path: Path) -> pd.DataFrame:
    return duckdb.sql(f"select * from {duckdb_reader(path)}").df()


def run_child(method: str, sales: Path, output: Path, n_threads: int) -> int:
    sales_df = read_sales(sales)
    if method == "tutorial":
        result = tutorial_method(sales_df)
    else:
        result = sparse_method(sales_df, n_threads)
    write_parquet(result, output)
    return 0


# ------------------------------------------------------------- measuring runs


def high_water_mark(process: psutil.Process) -> int:
    """Peak RSS of one process so far (VmHWM), or its current RSS where unavailable.

    Not getrusage's ru_maxrss: Linux carries the parent's peak into a forked
    child across exec, so a child would inherit the benchmark's own memory.
    """
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


class PeakRss:
    """Polls the summed peak RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.peak = 0
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += high_water_mark(process)
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed_run(
    command: list[str], env: dict[str, str], log: Path, timeout: float
) -> tuple[int, float, float, int]:
    """Run command; returns (exit code, wall s, CPU s of the tree, peak RSS bytes)."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        monitor = PeakRss(process.pid)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, wall, usage.ru_utime + usage.ru_stime, monitor.stop()


def tutorial_memory_needed(sales: Path) -> tuple[int, int, int]:
    """(bytes the tutorial needs, orders, products), estimated from its dense arrays."""
    reader = duckdb_reader(sales)
    orders, products = duckdb.sql(
        f"select count(distinct order_id), count(distinct product_id) from {reader}"
    ).fetchall()[0]
    # pivot_table's orders x products float64 table exists about three times
    # at its peak (unstack, fillna, drop); then C, its cosine and a copy.
    needed = 3 * orders * products * 8 + 4 * products * products * 8
    return needed, orders, products


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
    env = {
        **os.environ,
        "DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(run_dir / "target"),
        "DBT_LOG_PATH": str(run_dir / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_THREADS": str(threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    dbt = str(Path(sys.executable).parent / "dbt")
    command = [dbt, "build", "--vars", json.dumps({"sales_path": str(sales), **BUILD_VARS})]
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
    env = {
        **os.environ,
        "SPARK_WAREHOUSE_DIR": str(run_dir / "warehouse"),
        "SPARK_METASTORE_DIR": str(run_dir / "metastore_db"),
        "SPARK_SCHEMA": "benchmark",
        "DBT_TARGET_PATH": str(run_dir / "target"),
        "DBT_LOG_PATH": str(run_dir / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    dbt = str(Path(sys.executable).parent / "dbt")
    command = [
        dbt,
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


def run_method(
    method: str, sales: Path, workdir: Path, threads: int, timeout: float
) -> Measurement:
    result = workdir / f"{method}.parquet"
    result.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        method,
        "--child-input",
        str(sales),
        "--child-output",
        str(result),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    code, wall, cpu, peak = timed_run(command, env, workdir / f"{method}.log", timeout)
    measurement = Measurement(method, wall=wall, cpu=cpu, peak_rss=peak)
    if code != 0:
        tail = (workdir / f"{method}.log").read_text(errors="replace").strip().splitlines()[-1:]
        measurement.status = f"failed (exit {code}: {' '.join(tail)[:120]})"
    else:
        measurement.result = result
    return measurement


# -------------------------------------------------------------------- parity


# Pairs whose cosine is recomputed at a time (bounds the rows of C held at once).
RECOMPUTE_CHUNK = 2_000


def tutorial_cosines(sales_df: pd.DataFrame, pairs: list[tuple[str, str]]) -> np.ndarray:
    """The tutorial's cosine of each (product, other product) pair, from the sales lines.

    Written apart from every method it checks: X is the orders x products count
    table, C = X^T X with a zero diagonal, and only the rows of C that the pairs
    need are formed, as X[:, p]^T X. NaN for a product the sales do not have.
    """
    import scipy.sparse as sp

    products, product_codes = np.unique(
        sales_df["product_id"].to_numpy(dtype=str), return_inverse=True
    )
    _, order_codes = np.unique(sales_df["order_id"].to_numpy(dtype=str), return_inverse=True)
    x = sp.csc_matrix(
        (np.ones(product_codes.size), (order_codes, product_codes)),
        shape=(int(order_codes.max()) + 1, products.size),
    )
    index = pd.Index(products)
    out = np.full(len(pairs), np.nan)
    for start in range(0, len(pairs), RECOMPUTE_CHUNK):
        chunk = pairs[start : start + RECOMPUTE_CHUNK]
        left = index.get_indexer([a for a, _ in chunk])
        right = index.get_indexer([b for _, b in chunk])
        known = (left >= 0) & (right >= 0)
        wanted, positions = np.unique(np.r_[left[known], right[known]], return_inverse=True)
        rows = (x[:, wanted].T @ x).tocoo()  # C[wanted], diagonal included
        keep = rows.col != wanted[rows.row]
        rows = sp.csr_matrix((rows.data[keep], (rows.row[keep], rows.col[keep])), shape=rows.shape)
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        a, b = np.split(positions, 2)
        dots = np.asarray(rows[a].multiply(rows[b]).sum(axis=1)).ravel()
        denominator = norms[a] * norms[b]
        cosines = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
        out[start + np.flatnonzero(known)] = cosines
    return out


def parity(reference: Path, other: Path, sales_df: pd.DataFrame) -> str:
    """Compare two top-k tables: similarities within 1e-9 rank by rank, ids up to ties.

    Where the last similarity of a list is tied, the two tables may list different
    ids there; each such id (in either table) must really have that similarity:
    it is recomputed from the sales lines (tutorial_cosines), not taken on trust.
    """
    left = read_parquet(reference)
    right = read_parquet(other)
    right = right[right["similarity"] > 0]  # the tutorial also lists zero cosines
    problems = 0
    first_problem = ""
    left_groups = dict(tuple(left.sort_values("recommendation_rank").groupby("product_id")))
    right_groups = dict(tuple(right.sort_values("recommendation_rank").groupby("product_id")))
    if set(left_groups) != set(right_groups):
        only = set(left_groups) ^ set(right_groups)
        return (
            f"MISMATCH: {len(only):,} products have recommendations in one only "
            f"({len(left_groups):,} vs {len(right_groups):,} products)"
        )
    tied: list[tuple[str, str, float]] = []  # (product, id at the tied last value, value)
    for product, mine in left_groups.items():
        theirs = right_groups[product]
        a = mine["similarity"].to_numpy()
        b = theirs["similarity"].to_numpy()
        if a.size != b.size or np.abs(a - b).max(initial=0.0) > SIMILARITY_TOLERANCE:
            problems += 1
            first_problem = first_problem or f"{product}: similarities {a} vs {b}"
            continue
        # Above the last value every id must match; at the last value ties may differ.
        cut = a.min() + SIMILARITY_TOLERANCE
        above_a = set(mine["recommended_product_id"][a > cut])
        above_b = set(theirs["recommended_product_id"][b > cut])
        if above_a != above_b:
            problems += 1
            first_problem = first_problem or f"{product}: {sorted(above_a)} vs {sorted(above_b)}"
            continue
        at_cut = set(mine["recommended_product_id"][a <= cut])
        at_cut |= set(theirs["recommended_product_id"][b <= cut])
        if len(at_cut) > 1:  # more than one id at that value: a tie, possibly resolved apart
            tied += [(product, recommended, a.min()) for recommended in sorted(at_cut)]
    recomputed = tutorial_cosines(sales_df, [(p, r) for p, r, _ in tied])
    wrong_ties: set[str] = set()
    for (product, recommended, value), actual in zip(tied, recomputed, strict=True):
        if not abs(actual - value) <= SIMILARITY_TOLERANCE:  # NaN (unknown id) fails too
            wrong_ties.add(product)
            first_problem = first_problem or (
                f"{product}: {recommended} listed at the tied similarity {value:.12g}, "
                f"its cosine is {actual:.12g}"
            )
    problems += len(wrong_ties)
    compared = f"{len(left_groups):,} products compared"
    if problems:
        return f"MISMATCH in {problems:,} of {compared} (first: {first_problem[:160]})"
    return f"ok ({compared}, {len(tied):,} tied ids recomputed)"


# ------------------------------------------------------------------- reports


def describe_machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory()
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory.total / 2**30:.1f} GiB RAM "
        f"({memory.available / 2**30:.1f} GiB available at start), "
        f"load average at start {load[0]:.1f}, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, {platform.system()} {platform.release()}"
    )


def format_row(label: str, m: Measurement, reference: Measurement | None) -> str:
    method = METHOD_LABELS.get(m.method, m.method)
    if not m.status.startswith("ok"):
        return f"| {label} | {method} | {m.status} | | | | | | |"
    ratio = rss_ratio = ""
    if reference is not None and reference.status.startswith("ok"):
        ratio = f"{m.wall / reference.wall:.2f}x"
        rss_ratio = f"{m.peak_rss / reference.peak_rss:.2f}x"
    return (
        f"| {label} | {method} | {m.status} | {m.wall:.1f} | {m.cpu:.1f} | "
        f"{m.peak_rss / 2**20:,.0f} | {ratio} | {rss_ratio} | {m.parity} |"
    )


def input_label(path: Path, lines: int, products: int) -> str:
    name = path.name if path.name.startswith("sales_") else f"{path.parent.name}/{path.name}"
    return f"{name} ({lines:,} lines, {products:,} products)"


# ---------------------------------------------------------------------- main


@dataclass(frozen=True)
class Size:
    """A generated input: scripts/generate_sales.py's --lines, --products and shape."""

    lines: int
    products: int
    mean_order_lines: float | None = None  # None: the generator's defaults
    categories: int | None = None
    category_lean: float | None = None
    repeat_rate: float | None = None

    def file_name(self) -> str:
        shape = ""
        if self.mean_order_lines is not None:
            shape = f"_x{self.mean_order_lines:g}_c{self.categories}"
        if self.category_lean is not None:
            shape += f"_l{self.category_lean:g}_r{self.repeat_rate:g}"
        return f"sales_{self.lines}_{self.products}{shape}.parquet"

    def generator_args(self) -> list[str]:
        args = [f"--lines={self.lines}", f"--products={self.products}"]
        if self.mean_order_lines is not None:
            args += [f"--mean-order-lines={self.mean_order_lines:g}"]
            args += [f"--categories={self.categories}"]
        if self.category_lean is not None:
            args += [f"--category-lean={self.category_lean:g}"]
            args += [f"--repeat-rate={self.repeat_rate:g}"]
        return args


def parse_size(text: str) -> Size:
    def number(part: str) -> float:
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        return float(part.rstrip("km")) * scale

    parts = text.split("/")
    if len(parts) not in (2, 4, 6):
        raise argparse.ArgumentTypeError(
            f"size {text!r} must be LINES/PRODUCTS, optionally followed by "
            "/MEAN_ORDER_LINES/CATEGORIES and /CATEGORY_LEAN/REPEAT_RATE, "
            "e.g. 1M/5k, 1.47M/68.5k/30/134 or 818k/23.8k/20/134/0.5/0"
        )
    try:
        lines, products = round(number(parts[0])), round(number(parts[1]))
        shape = [float(parts[2]), int(parts[3])] if len(parts) > 2 else []
        shape += [float(parts[4]), float(parts[5])] if len(parts) > 4 else []
        return Size(lines, products, *shape)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: every part must be a number") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", DEFAULT_SIZES),
        help=f"generated inputs as LINES/PRODUCTS, comma separated (default {DEFAULT_SIZES}; "
        "'' for none; env BENCH_SIZES)",
    )
    parser.add_argument(
        "--sales", type=Path, action="append", default=[], help="a sales file to add (repeatable)"
    )
    parser.add_argument(
        "--no-datasets",
        action="store_true",
        help=f"do not add the real sets found in {DATASETS_DIR}",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"methods to run, comma separated (default and order in which they run: "
        f"{','.join(METHODS)}); dbt_rebuild reruns dbt's build, so needs dbt",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(
            os.environ.get("BENCH_DATA_DIR", Path(tempfile.gettempdir()) / "recommender-bench")
        ),
        help="where generated inputs are cached and runs write (env BENCH_DATA_DIR)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("DBT_THREADS", os.cpu_count() or 2)),
        help="threads for dbt and sparse_dot_topn (default $DBT_THREADS or the CPU count)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a method is stopped"
    )
    parser.add_argument(
        "--write", type=Path, help="replace the results section of this Markdown file"
    )
    parser.add_argument("--child", choices=["tutorial", "sparse"], help=argparse.SUPPRESS)
    parser.add_argument("--child-input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.size_list = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    requested = {m.strip() for m in args.methods.split(",") if m.strip()}
    unknown = requested - set(METHODS)
    if unknown:
        parser.error(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")
    if "dbt_rebuild" in requested and "dbt" not in requested:
        parser.error("dbt_rebuild reruns the dbt build in its folders: add dbt to --methods")
    # dbt first: the reference for parity, and the build dbt_rebuild repeats.
    args.method_list = [m for m in METHODS if m in requested]
    return args


def generated_input(data_dir: Path, size: Size) -> Path:
    path = data_dir / "inputs" / size.file_name()
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        partial = path.with_suffix(".partial.parquet")
        subprocess.run(
            [
                sys.executable,
                str(PROJECT_DIR / "scripts" / "generate_sales.py"),
                *size.generator_args(),
                f"--output={partial}",
            ],
            check=True,
        )
        partial.rename(path)
    return path


def inputs(args: argparse.Namespace) -> list[Path]:
    found = [generated_input(args.data_dir, size) for size in args.size_list]
    if not args.no_datasets and DATASETS_DIR.is_dir():
        found += sorted(DATASETS_DIR.glob("*/sales.csv"))
    for path in args.sales:
        if not path.is_file():
            raise FileNotFoundError(f"--sales {path} does not exist; give a CSV or Parquet file")
        found.append(path.resolve())
    return found


def benchmark_input(args: argparse.Namespace, sales: Path, index: int) -> tuple[list[str], str]:
    workdir = args.data_dir / "runs" / f"{index:02d}_{sales.parent.name}_{sales.stem}"
    workdir.mkdir(parents=True, exist_ok=True)
    lines = duckdb.sql(f"select count(*) from {duckdb_reader(sales)}").fetchall()[0][0]
    needed, orders, products = tutorial_memory_needed(sales)
    label = input_label(sales, lines, products)
    print(f"\n== {label}, {orders:,} orders", file=sys.stderr)

    measured: dict[str, Measurement] = {}
    details: dict[str, dict] = {}
    for method in args.method_list:
        if method == "dbt_rebuild" and measured["dbt"].result is None:
            measured[method] = Measurement(method, status="skipped: the first dbt build failed")
        elif method in DBT_METHODS:
            measured[method], details[method] = run_dbt(
                method, sales, workdir, args.threads, args.timeout
            )
        elif method == "dbt_spark":
            measured[method] = run_dbt_spark(sales, lines, workdir, args.timeout)
        elif method == "tutorial" and needed > psutil.virtual_memory().available:
            measured[method] = Measurement(
                method,
                status=f"skipped: needs ~{needed / 2**30:.1f} GiB, "
                f"{psutil.virtual_memory().available / 2**30:.1f} GiB available",
            )
        else:
            measured[method] = run_method(method, sales, workdir, args.threads, args.timeout)
        m = measured[method]
        print(
            f"   {method:<11} {m.status:<8} wall {m.wall:7.1f} s  cpu {m.cpu:7.1f} s  "
            f"peak {m.peak_rss / 2**20:8,.0f} MB",
            file=sys.stderr,
        )

    # Everything is compared with the dbt result (or, without it, the sparse one).
    finished = [m for m in measured.values() if m.result is not None]
    if len(finished) > 1:
        reference = finished[0]
        reference.parity = "reference"
        sales_df = read_sales(sales)  # parity recomputes tied similarities from the lines
        for m in finished[1:]:
            m.parity = parity(reference.result, m.result, sales_df)

    sparse = measured.get("sparse")
    rows = [format_row(label, measured[m], sparse) for m in args.method_list]
    notes = [
        dbt_note(label, method, measured[method], found, details.get("dbt"), args.threads)
        for method, found in details.items()
        if "nodes" in found
    ]
    for note in notes:
        print("  " + note, file=sys.stderr)
    return rows, notes


def dbt_note(
    label: str,
    method: str,
    measurement: Measurement,
    found: dict,
    first: dict | None,
    threads: int,
) -> str:
    """One line of "where the dbt build's time went" for one dbt run."""
    nodes = found["nodes"]
    kinds = ", ".join(f"{k}s {v:.1f} s" for k, v in sorted(nodes["by_kind"].items()))
    slowest = ", ".join(f"{name} {seconds} s" for seconds, name in nodes["slowest"])
    parse = "full parse" if found["full_parse"] else "partial parse"
    if found["parse_seconds"] is not None:
        parse += f" {found['parse_seconds']:.1f} s"
    saving = ""
    if method == "dbt_rebuild" and first is not None and "nodes" in first:
        # Side by side with the first build: the parse is what the rebuild saves.
        saving = f" (first build: {first['nodes']['outside_nodes']:.1f} s"
        if first["parse_seconds"] is not None:
            saving += f", of which parse {first['parse_seconds']:.1f} s"
        saving += ")"
    return (
        f"- {label}, {METHOD_LABELS[method]}: wall {measurement.wall:.1f} s; "
        f"DuckDB file {found['duckdb_bytes'] / 2**20:,.1f} MiB; "
        f"dbt outside nodes (start-up, {parse}, compile) "
        f"{nodes['outside_nodes']:.1f} s{saving}; "
        f"{nodes['count']} nodes, summed node time {kinds} ({threads} run at once); "
        f"slowest: {slowest}."
    )


def write_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else f"{START_MARKER}\n{END_MARKER}\n"
    if START_MARKER not in text or END_MARKER not in text:
        raise ValueError(f"{path} has no {START_MARKER} ... {END_MARKER} section to replace")
    head, rest = text.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    path.write_text(f"{head}{START_MARKER}\n{section}\n{END_MARKER}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args.child, args.child_input, args.child_output, args.threads)
    try:
        files = inputs(args)
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not files:
        print("error: no inputs: give --sizes or --sales", file=sys.stderr)
        return 1
    machine = describe_machine()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"{machine}\n{command.strip()}", file=sys.stderr)
    table = [
        "| input | method | status | wall s | CPU s | peak RSS MB | wall vs sparse "
        "| RSS vs sparse | parity |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for index, sales in enumerate(files):
        rows, input_notes = benchmark_input(args, sales, index)
        table += rows
        notes += input_notes
    section = "\n".join(
        [
            f"Run {started} on {machine}.",
            "",
            f"Command: `{command.strip()}` (threads: {args.threads}).",
            "",
            *table,
            "",
            "Where the dbt build's time went (from target/run_results.json):",
            "",
            *notes,
        ]
    )
    print("\n" + section)
    if args.write:
        write_markdown(args.write, section)
        print(f"\nwrote the results into {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
