"""The sparse engine's shortcuts stay exact, and the benchmark's parity check can fail.

Speed itself is measured by scripts/benchmark.py (BENCHMARKS.md), never here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import PROJECT_DIR, run_command

sys.path.insert(0, str(PROJECT_DIR / "lib"))
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

import cosine_topk
from recommender_io.bench.dbt_runs import full_parse_reason, parse_seconds
from recommender_io.bench.parity import parity
from recommender_io.bench.report import END_MARKER, START_MARKER


def symmetric_counts(n: int, density: float, high: int, seed: int) -> sp.csr_matrix:
    """A random symmetric co-occurrence matrix with an empty diagonal."""
    rng = np.random.default_rng(seed)
    upper = sp.random(n, n, density=density, random_state=rng, format="csr")
    upper.data = rng.integers(1, high, upper.nnz).astype(np.int64)
    c = sp.triu(upper, k=1)
    return (c + c.T).tocsr().astype(np.int64)


def brute_force(c: sp.csr_matrix, norms: np.ndarray, top_k: int, floor: float):
    """Exact top_k per row from the dense integer product, ties to the smaller key."""
    dots = (c @ c.T).toarray()
    out = []
    for row in range(c.shape[0]):
        if norms[row] == 0:
            continue
        cols = np.flatnonzero((dots[row] > 0) & (np.arange(c.shape[0]) != row))
        similarity = dots[row, cols].astype(np.float64) / (norms[row] * norms[cols])
        keep = similarity > floor
        cols, similarity = cols[keep], similarity[keep]
        order = np.lexsort((cols, -similarity))[:top_k]
        out += [(row, cols[i], rank + 1, similarity[i]) for rank, i in enumerate(order)]
    return out


def engine(c: sp.csr_matrix, norms: np.ndarray, top_k: int, floor: float):
    coo = c.tocoo()
    (rows, cols, rank, similarity), _ = cosine_topk.neighbours(
        coo.row, coo.col, coo.data, norms, top_k, floor, 1
    )
    return list(zip(rows.tolist(), cols.tolist(), rank.tolist(), similarity.tolist(), strict=True))


@pytest.mark.parametrize(
    ("high", "top_k", "floor"),
    [(2, 5, 0.0), (4, 1, 0.0), (50, 3, 0.2), (2, 40, 0.0), (3, 5, 0.0)],
    ids=["ties-everywhere", "top1", "floor", "top_k-40", "ties-top5"],
)
def test_neighbours_equal_brute_force_bit_for_bit(high: int, top_k: int, floor: float) -> None:
    c = symmetric_counts(120, 0.08, high, seed=high + top_k)
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())
    expected = brute_force(c, norms, top_k, floor)
    got = engine(c, norms, top_k, floor)
    assert sorted(got) == sorted(expected)


def test_dot_products_beyond_float64_exactness_stay_exact() -> None:
    # Two rows of huge counts: their dot products (~1e17) are beyond what a
    # float64 cosine could be rounded back from (the former candidate search
    # recomputed them); the kernel sums them in int64, exactly.
    c = symmetric_counts(60, 0.2, 9, seed=3)
    c = c.tolil()
    for row in (0, 1):
        c[row, 2:] = 100_000_000
        c[2:, row] = 100_000_000
    c = c.tocsr().astype(np.int64)
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())
    assert (c @ c.T).max() > 1e17  # far beyond 2**53
    assert sorted(engine(c, norms, 5, 0.0)) == sorted(brute_force(c, norms, 5, 0.0))


def test_rank_one_of_top_k_equals_a_top_one_search() -> None:
    # The sweep takes this build's rank 1 from the build itself instead of a top_k=1 pass.
    c = symmetric_counts(80, 0.1, 6, seed=11)
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())
    first = engine(c, norms, 5, 0.0)
    second = engine(c, norms, 1, 0.0)
    assert len(second) > 60
    assert [r for r in first if r[2] == 1] == second


def write_result(path: Path, rows: list[tuple]) -> Path:
    with duckdb.connect() as con:
        con.execute(
            "create table t (product_id varchar, recommendation_rank integer, "
            "recommended_product_id varchar, similarity double)"
        )
        con.executemany("insert into t values (?, ?, ?, ?)", rows)
        con.execute(f"copy t to '{path}' (format parquet)")
    return path


# Orders of a tiny catalogue built for ties: c, d and e are bought in identical patterns,
# so each of them has exactly the same cosine with a (and with b, and with x).
TIE_ORDERS = {"1": "ab", "2": "ab", "3": "acx", "4": "adx", "5": "aex", "6": "by", "7": "bx"}


def tie_sales() -> pd.DataFrame:
    rows = [(order, product) for order, products in TIE_ORDERS.items() for product in products]
    return pd.DataFrame(rows, columns=["order_id", "product_id"]).assign(category="c")


def dense_cosines(sales: pd.DataFrame) -> pd.DataFrame:
    """The tutorial's steps in plain numpy: X, C = X^T X with a zero diagonal, cosine."""
    x = pd.crosstab(sales["order_id"], sales["product_id"]).to_numpy(dtype=np.float64)
    c = x.T @ x
    np.fill_diagonal(c, 0.0)
    unit = c / np.linalg.norm(c, axis=1)[:, None]
    products = sorted(sales["product_id"].unique())
    return pd.DataFrame(unit @ unit.T, index=products, columns=products)


def test_benchmark_parity_recomputes_every_id_accepted_at_a_tie(tmp_path: Path) -> None:
    sales = tie_sales()
    cosine = dense_cosines(sales)
    assert cosine.at["a", "c"] == pytest.approx(cosine.at["a", "e"], abs=1e-15)
    assert cosine.at["a", "y"] == pytest.approx(0.5) and cosine.at["a", "c"] > 0.53

    def table(name: str, lists: dict[str, list[str]], claimed: dict | None = None) -> Path:
        """Top-k lists; each similarity the true cosine unless `claimed` says otherwise."""
        claimed = claimed or {}
        rows = []
        for product, recs in lists.items():
            for rank, rec in enumerate(recs, start=1):
                value = claimed.get((product, rec))
                rows.append((product, rank, rec, value or float(cosine.at[product, rec])))
        return write_result(tmp_path / f"{name}.parquet", rows)

    lists = {"a": ["c", "d"], "b": ["c", "d"], "x": ["b", "c"]}
    reference = table("reference", lists)
    tie_at = cosine.at["a", "c"]

    # Other ids of the same tie: fine, and every id at a tie was recomputed.
    swapped = table("swapped", {"a": ["c", "e"], "b": ["d", "e"], "x": ["b", "d"]})
    assert parity(reference, swapped, sales) == "ok (3 products compared, 8 tied ids recomputed)"
    # An id listed at the tied value that is not tied (y's cosine with a is 0.5) ...
    not_tied = table("not_tied", {**lists, "a": ["c", "y"]}, claimed={("a", "y"): tie_at})
    result = parity(reference, not_tied, sales)
    assert result.startswith("MISMATCH in 1 of 3 products compared"), result
    assert "a: y listed at the tied similarity 0.53" in result and "its cosine is 0.5" in result
    # ... or a product the sales never had: both used to pass as ties.
    unknown = table("unknown", {**lists, "a": ["c", "zz"]}, claimed={("a", "zz"): tie_at})
    result = parity(reference, unknown, sales)
    assert result.startswith("MISMATCH in 1 of 3 products compared"), result
    assert "a: zz listed at the tied similarity" in result and "its cosine is nan" in result

    # A similarity off by more than 1e-9, and another id above the tie, are caught too.
    off = table("off", lists, claimed={("x", "b"): cosine.at["x", "b"] - 1e-8})
    assert parity(reference, off, sales).startswith("MISMATCH in 1 of 3 products")
    wrong_id = table(
        "wrong_id", {**lists, "x": ["a", "c"]}, claimed={("x", "a"): cosine.at["x", "b"]}
    )
    result = parity(reference, wrong_id, sales)
    assert result.startswith("MISMATCH in 1 of 3 products compared (first: x: ['b'] vs ['a'])")
    # And a product listed in one table only.
    fewer = table("fewer", {"a": ["c", "d"], "b": ["c", "d"]})
    assert parity(reference, fewer, sales).startswith("MISMATCH: 1 products")


def test_benchmark_tells_a_full_parse_from_a_partial_one(tmp_path: Path) -> None:
    # Lines as dbt 1.11 writes them: stdout (info) and logs/dbt.log (debug).
    stdout = tmp_path / "build.log"
    stdout.write_text(
        "\x1b[0m18:29:49  Registered adapter: duckdb=1.11.1\n"
        "\x1b[0m18:29:49  Unable to do partial parsing because saved manifest not found. "
        "Starting full parse.\n"
    )
    full_debug = (
        "\x1b[0m18:29:49.585279 [info ] [MainThread]: Registered adapter: duckdb=1.11.1\n"
        "\x1b[0m18:29:53.238510 [info ] [MainThread]: Found 15 models, 68 data tests\n"
    )
    assert full_parse_reason(stdout, full_debug).startswith("saved manifest not found")
    assert parse_seconds(full_debug) == pytest.approx(3.653231)

    stdout.write_text("\x1b[0m18:30:03  Registered adapter: duckdb=1.11.1\n")
    partial_debug = (
        "\x1b[0m23:59:59.500000 [info ] [MainThread]: Registered adapter: duckdb=1.11.1\n"
        "\x1b[0m00:00:00.100000 [debug] [MainThread]: Partial parsing enabled: "
        "0 files deleted, 0 files added, 0 files changed.\n"
        "\x1b[0m00:00:00.700000 [info ] [MainThread]: Found 15 models, 68 data tests\n"
    )
    assert full_parse_reason(stdout, partial_debug) == ""
    assert parse_seconds(partial_debug) == pytest.approx(1.2)
    # Without dbt's word for a partial parse, it is not taken for one.
    assert full_parse_reason(stdout, "") != ""
    assert parse_seconds("") is None


def test_benchmark_runs_and_the_methods_agree(tmp_path: Path) -> None:
    report = tmp_path / "BENCH.md"
    report.write_text(f"intro\n{START_MARKER}\nold\n{END_MARKER}\noutro\n")
    result = run_command(
        [
            sys.executable,
            str(PROJECT_DIR / "scripts" / "benchmark.py"),
            "--sizes=3k/150",
            "--no-datasets",
            "--methods=sparse,tutorial",
            f"--data-dir={tmp_path}",
            f"--write={report}",
        ],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    tutorial_row = next(line for line in text.splitlines() if "| tutorial |" in line)
    assert "| ok (" in tutorial_row, tutorial_row
