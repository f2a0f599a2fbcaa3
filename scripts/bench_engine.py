"""Time the cosine engine against a plain sparse_dot_topn top-k, on the same inputs, in one run.

For each input (sales files given with --sales, and sets generated with
scripts/generate_sales.py for each --generate LINES/PRODUCTS), this script
computes the co-occurrence matrix C once, as the pipeline does (per-order
quantities, C = X^T X without its diagonal, both directions), and saves it.
Then each method runs in its own child process, which loads C and reports
its own figures:

- anchor: what scripts/benchmark.py's `sparse` method does after building C:
  row-normalize C in float64, sp_matmul_topn(top_n=top_k + 1) with the same
  threads, drop self pairs, rank: the "plain scipy.sparse + sparse_dot_topn"
  reference of issue 15;
- anchor32: the same search in float32 (what a float32 candidate search
  would cost before any exactness step);
- engine: lib/cosine_topk.py's `neighbours` on the pair arrays as the dbt
  model fetches them (int32 keys, int64 counts, float64 norms);
- engine_relations: `neighbours_from_relations` on a DuckDB file holding the
  pair counts and vectors tables, under the same DuckDB memory limit as a
  build: the Python model's whole step, fetching included.

Each child reports the method's wall and CPU seconds and the process's peak
RSS (VmHWM: interpreter, imports, the loaded inputs and the method). Methods
alternate order between repeats, since this machine's speed drifts; ratios
are taken within each repeat and given as ranges. Results are compared with
the anchor's (same similarities rank by rank within 1e-9; the same products
above each row's last tied value).

Examples:
    python scripts/bench_engine.py --sales ../shared/datasets/instacart_slice/sales.csv
    python scripts/bench_engine.py --generate 818k/23.8k --generate 1.47M/68.5k --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
from recommender_io.bench.inputs import parse_count

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR / "lib"))
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

METHODS = ("anchor", "anchor32", "engine", "engine_relations")
TOLERANCE = 1e-9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sales", type=Path, action="append", default=[], help="a sales file")
    parser.add_argument(
        "--generate",
        action="append",
        default=[],
        metavar="LINES/PRODUCTS",
        help="a generated input, e.g. 818k/23.8k (scripts/generate_sales.py)",
    )
    parser.add_argument(
        "--mean-order-lines",
        type=float,
        default=10.0,
        help="generated orders' mean size (the instacart slice: 10.1)",
    )
    parser.add_argument(
        "--categories", type=int, default=134, help="generated categories (instacart: 134 aisles)"
    )
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(
            os.environ.get("BENCH_DATA_DIR", Path(tempfile.gettempdir()) / "bench_engine")
        ),
        help="where generated inputs and prepared matrices are cached",
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method per input")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("DBT_THREADS", "2")))
    parser.add_argument(
        "--memory-limit",
        default=os.environ.get("DUCKDB_MEMORY_LIMIT", "2GB"),
        help="DuckDB memory_limit for engine_relations (as profiles.yml)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prepared", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown --methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    if not args.child and not args.sales and not args.generate:
        parser.error("give at least one --sales FILE or --generate LINES/PRODUCTS")
    return args


# ------------------------------------------------------------------- inputs


def generated_input(spec: str, args: argparse.Namespace) -> Path:
    lines, products = (parse_count(part) for part in spec.split("/"))
    name = f"sales_{lines}_{products}_m{args.mean_order_lines:g}_c{args.categories}_s{args.seed}"
    path = args.data_dir / f"{name}.parquet"
    if not path.exists():
        import generate_sales

        generate_sales.main(
            [
                f"--lines={lines}",
                f"--products={products}",
                f"--mean-order-lines={args.mean_order_lines}",
                f"--categories={args.categories}",
                f"--seed={args.seed}",
                f"--output={path}",
            ]
        )
    return path


def prepare(sales: Path, out_dir: Path, memory_limit: str) -> dict:
    """C of the sales file as the pipeline counts it, saved for the children."""
    import scipy.sparse as sp

    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = out_dir / "pairs.npz"
    database = out_dir / "pairs.duckdb"
    info_path = out_dir / "info.json"
    if info_path.exists() and arrays.exists() and database.exists():
        return json.loads(info_path.read_text())
    quoted = "'" + str(sales).replace("'", "''") + "'"
    reader = f"read_parquet({quoted})" if sales.suffix == ".parquet" else f"read_csv({quoted})"
    with duckdb.connect() as con:
        lines = con.execute(
            f"""
            with lines as (
                select trim(order_id::varchar) as order_id, trim(product_id::varchar) as product_id
                from {reader}
                where order_id is not null and product_id is not null
            )
            select
                dense_rank() over (order by order_id) - 1 as order_key,
                dense_rank() over (order by product_id) - 1 as product_key
            from lines
            """
        ).fetchnumpy()
    order_keys, product_keys = lines["order_key"], lines["product_key"]
    n = int(product_keys.max()) + 1
    x = sp.csr_matrix(
        (np.ones(order_keys.size, dtype=np.int64), (order_keys, product_keys)),
        shape=(int(order_keys.max()) + 1, n),
    )
    c = (x.T @ x).tocoo()
    off = c.row != c.col
    pair_keys = c.row[off].astype(np.int32)
    co_keys = c.col[off].astype(np.int32)
    counts = c.data[off].astype(np.int64)
    squared = np.bincount(pair_keys, weights=counts.astype(np.float64) ** 2, minlength=n)
    norms = np.sqrt(squared)
    degrees = np.bincount(pair_keys, minlength=n)
    np.savez(arrays, pair_keys=pair_keys, co_keys=co_keys, counts=counts, norms=norms)
    with duckdb.connect(str(database)) as con:
        con.register(
            "pairs", {"product_key": pair_keys, "co_product_key": co_keys, "pair_count": counts}
        )
        con.execute(
            "create table int_product_pair_counts as select product_key::integer as product_key, "
            "co_product_key::integer as co_product_key, pair_count::bigint as pair_count from pairs"
        )
        filled = np.flatnonzero(degrees)
        con.register(
            "vectors",
            {
                "product_key": filled.astype(np.int32),
                "co_product_count": degrees[filled].astype(np.int64),
                "vector_norm": norms[filled],
            },
        )
        con.execute("create table int_product_vectors as select * from vectors")
    work = float((degrees.astype(np.float64) ** 2).sum())
    info = {
        "sales": str(sales),
        "lines": int(order_keys.size),
        "orders": int(x.shape[0]),
        "products": n,
        "pairs": int(pair_keys.size),
        "multiply_adds": work,
        "largest_count": int(counts.max()),
    }
    info_path.write_text(json.dumps(info))
    return info


# ------------------------------------------------------------------ methods


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def anchor(prepared: Path, top_k: int, threads: int, dtype: type) -> tuple[np.ndarray, ...]:
    """Row-normalized C, sp_matmul_topn, top_k without self: benchmark.py's sparse method."""
    import scipy.sparse as sp
    from sparse_dot_topn import sp_matmul_topn

    loaded = np.load(prepared / "pairs.npz")
    n = loaded["norms"].size
    c = sp.csr_matrix((loaded["counts"], (loaded["pair_keys"], loaded["co_keys"])), shape=(n, n))
    norms = loaded["norms"]
    del loaded
    start = time.perf_counter(), time.process_time()
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    normalized = (sp.diags(inverse) @ c.astype(np.float64)).tocsr().astype(dtype)
    del c
    transposed = normalized.T.tocsr()
    call = time.perf_counter(), time.process_time()
    top = sp_matmul_topn(normalized, transposed, top_n=top_k + 1, n_threads=threads).tocoo()
    called = time.perf_counter(), time.process_time()
    keep = (top.row != top.col) & (top.data > 0)
    rows, cols, sims = top.row[keep], top.col[keep], top.data[keep].astype(np.float64)
    order = np.lexsort((cols, -sims, rows))
    rows, cols, sims = rows[order], cols[order], sims[order]
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    rank = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size])) + 1
    keep = rank <= top_k
    done = time.perf_counter(), time.process_time()
    timing = {
        "wall": done[0] - start[0],
        "cpu": done[1] - start[1],
        "call_wall": called[0] - call[0],
        "call_cpu": called[1] - call[1],
    }
    return timing, rows[keep], cols[keep], rank[keep], sims[keep]


def engine(prepared: Path, top_k: int, threads: int) -> tuple:
    import cosine_topk

    loaded = np.load(prepared / "pairs.npz")
    arrays = {name: loaded[name] for name in ("pair_keys", "co_keys", "counts", "norms")}
    del loaded
    start = time.perf_counter(), time.process_time()
    (rows, cols, rank, sims), _ = cosine_topk.neighbours(
        arrays["pair_keys"],
        arrays["co_keys"],
        arrays["counts"],
        arrays["norms"],
        top_k,
        0.0,
        threads,
    )
    done = time.perf_counter(), time.process_time()
    return {"wall": done[0] - start[0], "cpu": done[1] - start[1]}, rows, cols, rank, sims


def engine_relations(prepared: Path, top_k: int, threads: int, memory_limit: str) -> tuple:
    import cosine_topk

    with duckdb.connect(
        str(prepared / "pairs.duckdb"),
        read_only=True,
        config={"memory_limit": memory_limit, "threads": threads},
    ) as con:
        n = json.loads((prepared / "info.json").read_text())["products"]
        start = time.perf_counter(), time.process_time()
        (rows, cols, rank, sims), _ = cosine_topk.neighbours_from_relations(
            con.table("int_product_pair_counts"),
            con.table("int_product_vectors"),
            n,
            top_k,
            0.0,
            0.0,
            threads,
        )
        done = time.perf_counter(), time.process_time()
    return {"wall": done[0] - start[0], "cpu": done[1] - start[1]}, rows, cols, rank, sims


def run_child(args: argparse.Namespace) -> int:
    if args.child == "anchor":
        timing, *result = anchor(args.prepared, args.top_k, args.threads, np.float64)
    elif args.child == "anchor32":
        timing, *result = anchor(args.prepared, args.top_k, args.threads, np.float32)
    elif args.child == "engine":
        timing, *result = engine(args.prepared, args.top_k, args.threads)
    else:
        timing, *result = engine_relations(
            args.prepared, args.top_k, args.threads, args.memory_limit
        )
    rows, cols, rank, sims = result
    np.savez(args.result, rows=rows, cols=cols, rank=rank, sims=sims)
    timing["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(timing))
    return 0


# ---------------------------------------------------------------- comparing


def agreement(reference: Path, other: Path, top_k: int) -> str:
    """'ok' when similarities agree rank by rank and ids agree above ties at the cut."""
    a, b = np.load(reference), np.load(other)
    n = int(max(a["rows"].max(initial=-1), b["rows"].max(initial=-1))) + 1
    grids = []
    for result in (a, b):
        grid = np.full((n, top_k), -1.0)
        ids = np.full((n, top_k), -1, dtype=np.int64)
        grid[result["rows"], result["rank"] - 1] = result["sims"]
        ids[result["rows"], result["rank"] - 1] = result["cols"]
        grids.append((grid, ids))
    (sims_a, ids_a), (sims_b, ids_b) = grids
    if not np.allclose(sims_a, sims_b, rtol=0, atol=TOLERANCE):
        bad = int((np.abs(sims_a - sims_b) > TOLERANCE).any(axis=1).sum())
        return f"MISMATCH: similarities differ in {bad} rows"
    last = sims_a.min(axis=1, keepdims=True)
    above = sims_a > last + TOLERANCE
    for row in np.flatnonzero(above.any(axis=1)):
        if set(ids_a[row][above[row]]) != set(ids_b[row][above[row]]):
            return f"MISMATCH: different products above the ties of row {row}"
    return "ok"


def measure(method: str, prepared: Path, args: argparse.Namespace, result: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        f"--child={method}",
        f"--prepared={prepared}",
        f"--result={result}",
        f"--top-k={args.top_k}",
        f"--threads={args.threads}",
        f"--memory-limit={args.memory_limit}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall"] = elapsed
    return figures


def span(values: list[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    return (
        f"{low:.{digits}f}"
        if round(low, digits) == round(high, digits)
        else (f"{low:.{digits}f}-{high:.{digits}f}")
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    methods = args.methods.split(",")
    inputs = [path.resolve() for path in args.sales]
    inputs += [generated_input(spec, args) for spec in args.generate]
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start, threads {args.threads}")
    print(
        "| input | method | wall s | CPU s | peak RSS MB | wall vs anchor | CPU vs anchor "
        "| RSS vs anchor | sp_matmul_topn wall s | agrees |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for sales in inputs:
        key = f"{sales.parent.name}_{sales.stem}"
        prepared = args.data_dir / "prepared" / key
        info = prepare(sales, prepared, args.memory_limit)
        label = (
            f"{sales.parent.name}/{sales.name} ({info['lines']:,} lines, {info['products']:,} "
            f"products, {info['pairs']:,} pairs, {info['multiply_adds']:.3g} multiply-adds)"
        )
        runs: dict[str, list[dict]] = {method: [] for method in methods}
        with tempfile.TemporaryDirectory() as scratch:
            results = {method: Path(scratch) / f"{method}.npz" for method in methods}
            for repeat in range(args.repeat):
                shift = repeat % len(methods)
                for method in methods[shift:] + methods[:shift]:
                    runs[method].append(measure(method, prepared, args, results[method]))
            verdicts = {
                method: agreement(results[methods[0]], results[method], args.top_k)
                for method in methods
            }
        base = runs[methods[0]]
        for method in methods:
            mine = runs[method]
            ratio = {
                field: [m[field] / b[field] for m, b in zip(mine, base, strict=True)]
                for field in ("wall", "cpu", "peak_rss_mb")
            }
            call = [m["call_wall"] for m in mine if "call_wall" in m]
            print(
                f"| {label} | {method} | {span([m['wall'] for m in mine])} "
                f"| {span([m['cpu'] for m in mine])} | {span([m['peak_rss_mb'] for m in mine], 0)} "
                f"| {span(ratio['wall'])}x | {span(ratio['cpu'])}x | {span(ratio['peak_rss_mb'])}x "
                f"| {span(call) if call else ''} | {verdicts[method]} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
