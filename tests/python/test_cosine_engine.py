"""The exact cosine kernel (lib/cosine_topk.py, lib/cosine_kernels.py) against references.

The references are dense numpy computations written here: every pair's integer
dot product, the score as the SQL engine computes it, and a sort by
(score desc, key asc). Speed is measured by scripts/bench_engine.py, never here.
"""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import PROJECT_DIR
from test_performance import brute_force, engine, symmetric_counts

sys.path.insert(0, str(PROJECT_DIR / "lib"))

import cosine_kernels
import cosine_topk


def norms_of(c: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())


def dense_reference(c: sp.csr_matrix, top_k: int, floor: float, shrinkage: float) -> list[tuple]:
    """Every pair scored from the dense integer product, as the SQL engine divides."""
    dense = c.toarray().astype(np.int64)
    dots = dense @ dense.T
    norms = np.sqrt((dense * dense).sum(axis=1).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):  # rows without pairs: 0 / 0
        scores = dots.astype(np.float64) / (np.multiply.outer(norms, norms) + shrinkage)
    n = dense.shape[0]
    out = []
    for row in range(n):
        candidates = np.flatnonzero((dots[row] > 0) & (np.arange(n) != row))
        candidates = candidates[scores[row, candidates] > floor]
        order = candidates[np.lexsort((candidates, -scores[row, candidates]))][:top_k]
        out += [
            (row, int(col), rank + 1, float(scores[row, col])) for rank, col in enumerate(order)
        ]
    return out


def run(c: sp.csr_matrix, top_k: int, floor: float = 0.0, threads: int = 1, shrinkage=0.0):
    coo = c.tocoo()
    (rows, cols, rank, similarity), recomputed = cosine_topk.neighbours(
        coo.row, coo.col, coo.data, norms_of(c), top_k, floor, threads, shrinkage=shrinkage
    )
    assert recomputed == 0
    return list(zip(rows.tolist(), cols.tolist(), rank.tolist(), similarity.tolist(), strict=True))


def dense_rows(c: sp.csr_matrix) -> int:
    """How many rows the kernel sums into its dense accumulator (the rest: touched lists)."""
    coo = c.tocoo()
    n = c.shape[0]
    indptr, indices, data, _label, keys = cosine_topk.relabelled_matrix(
        coo.row, coo.col, coo.data, n
    )
    scores = np.full(n * 2, -np.inf)
    neighbour_keys = np.full(n * 2, cosine_topk.INT32_MAX, dtype=np.int32)
    return cosine_kernels.search_rows(
        indptr,
        indices,
        data,
        norms_of(c)[keys],
        keys.astype(np.int32),
        0.0,
        0.0,
        2,
        0,
        n,
        scores,
        neighbour_keys,
        np.zeros(n, dtype=np.int64),
        np.empty(n, dtype=np.int32),
        np.empty(max(1, int(np.diff(indptr).max())), dtype=np.int64),
        np.full(n, -np.inf),
    )


@pytest.mark.parametrize(
    ("density", "high", "expect_dense"),
    [(0.01, 5, False), (0.3, 3, True)],
    ids=["sparse-rows-touched-lists", "dense-rows-scanned"],
)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_both_accumulators_and_any_thread_count_equal_the_reference(
    density: float, high: int, expect_dense: bool, threads: int
) -> None:
    c = symmetric_counts(400, density, high, seed=7)
    scanned = dense_rows(c)
    # Each case exercises the accumulator it is named after (and only mostly that one).
    assert (scanned > 200) if expect_dense else (scanned < 5)
    assert run(c, 5, threads=threads) == dense_reference(c, 5, 0.0, 0.0)


def test_threads_split_ties_across_heaps_and_the_merge_keeps_key_order() -> None:
    # Counts of 1 only: thousands of exactly equal scores, computed by different
    # threads; the merge must still rank each tie by key.
    c = symmetric_counts(300, 0.05, 2, seed=5)
    expected = dense_reference(c, 7, 0.0, 0.0)
    assert run(c, 7, threads=2) == expected
    assert run(c, 7, threads=3) == expected


@pytest.mark.parametrize("shrinkage", [0.5, 10.0, 1e6])
def test_shrinkage_matches_a_numpy_reference(shrinkage: float) -> None:
    c = symmetric_counts(150, 0.06, 6, seed=9)
    got = run(c, 5, shrinkage=shrinkage, threads=2)
    assert got == dense_reference(c, 5, 0.0, shrinkage)
    # What lib/cosine_topk.py proves: a shrunk score never exceeds the cosine.
    cosine = {(row, col): sim for row, col, _, sim in dense_reference(c, 150, 0.0, 0.0)}
    assert all(sim <= cosine[row, col] for row, col, _, sim in got)


def test_shrinkage_zero_is_todays_cosine_bit_for_bit() -> None:
    c = symmetric_counts(150, 0.06, 6, seed=9)
    got = run(c, 5, shrinkage=0.0)
    assert got == run(c, 5)
    assert sorted(got) == sorted(brute_force(c, norms_of(c), 5, 0.0))


def test_shrinkage_reorders_pairs_with_small_norms() -> None:
    # Products 1 and 2 each share one sale of product 0 with product 3: their
    # cosine with 3 is perfect but rests on tiny counts; product 4 shares much
    # more. Shrinkage must demote the tiny-count pairs (it is not a no-op).
    dense = np.zeros((5, 5), dtype=np.int64)
    for a, b, count in [(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 4, 40), (3, 4, 1)]:
        dense[a, b] = dense[b, a] = count
    c = sp.csr_matrix(dense)
    plain = [r for r in run(c, 2) if r[0] == 1]
    shrunk = [r for r in run(c, 2, shrinkage=5.0) if r[0] == 1]
    assert shrunk == [r for r in dense_reference(c, 2, 0.0, 5.0) if r[0] == 1]
    assert [r[1] for r in plain] != [r[1] for r in shrunk]


def test_shrinkage_must_be_a_finite_non_negative_number() -> None:
    c = symmetric_counts(20, 0.2, 3, seed=1)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="shrinkage"):
            run(c, 5, shrinkage=bad)


def test_products_with_one_co_product_and_identical_vectors() -> None:
    # The shapes that have closed forms: products 1-4 were each bought only
    # with product 0 (one co-product, count 1 or 2); products 5 and 6 have the
    # same vector. Their scores are exact ties (1.0 and equal values from
    # different norms), ranked by key.
    dense = np.zeros((9, 9), dtype=np.int64)
    pairs = [(0, 1, 1), (0, 2, 2), (0, 3, 1), (0, 4, 2), (5, 7, 3), (5, 8, 1), (6, 7, 3), (6, 8, 1)]
    pairs += [(0, 7, 2), (0, 8, 5)]
    for a, b, count in pairs:
        dense[a, b] = dense[b, a] = count
    c = sp.csr_matrix(dense)
    got = run(c, 4)
    assert got == dense_reference(c, 4, 0.0, 0.0)
    by_row = {row: [(col, sim) for r, col, _, sim in got if r == row] for row in range(9)}
    assert by_row[1][:3] == [(2, 1.0), (3, 1.0), (4, 1.0)]
    assert by_row[5][0][0] == 6  # its twin first


def test_huge_counts_are_summed_exactly_in_int64() -> None:
    # Dot products near 1e18: float64 cannot hold them (nor recover them from a
    # cosine); the kernel's int64 sums must still equal the integer reference.
    c = symmetric_counts(60, 0.2, 9, seed=3).tolil()
    for row in (0, 1):
        c[row, 2:] = 100_000_000
        c[2:, row] = 100_000_000
    c = c.tocsr().astype(np.int64)
    dots = c.toarray() @ c.toarray().T
    assert dots.max() > 5e17
    assert run(c, 5) == dense_reference(c, 5, 0.0, 0.0)
    assert sorted(run(c, 5)) == sorted(brute_force(c, norms_of(c), 5, 0.0))


@pytest.mark.parametrize(
    "value",
    [32_767, 32_768, 65_535, 65_536],
    ids=[
        "dot-just-below-2**31",
        "dot-exactly-2**31",
        "largest-uint16-count",
        "count-beyond-uint16",
    ],
)
def test_counts_at_the_narrow_storage_boundaries_are_exact(value: int) -> None:
    # Products 0 and 1 both buy 2 and 3 `value` times (and 2, 3 both buy 0, 1):
    # dot(0, 1) = dot(2, 3) = 2 * value**2, every squared norm 2 * value**2.
    # 32,767 keeps every dot product below 2**31 (an int32 accumulator holds
    # it), 32,768 makes one exactly 2**31 (it would wrap to -2**31 in int32);
    # 65,535 is the largest count uint16 holds, 65,536 would wrap to 0.
    c = symmetric_counts(40, 0.3, 50, seed=7).tolil()
    c[:4, :] = 0
    c[:, :4] = 0
    for a in (0, 1):
        for b in (2, 3):
            c[a, b] = c[b, a] = value
    c = c.tocsr()
    assert (c[:4].multiply(c[:4]).sum(axis=1) == 2 * value**2).all()
    assert run(c, 5) == dense_reference(c, 5, 0.0, 0.0)
    top = {row: (col, sim) for row, col, rank, sim in run(c, 5) if rank == 1}
    assert top[0] == (1, pytest.approx(1.0)) and top[2] == (3, pytest.approx(1.0))


@pytest.mark.parametrize("n", [65_536, 65_537], ids=["uint16-labels", "int32-labels"])
def test_catalogues_past_65536_products_are_exact(n: int) -> None:
    # A path: product k bought with k + 1 (counts 1..7). Every product has a
    # pair, so labels reach n - 1 (the largest uint16 holds is 65,535). Rows k
    # and k + 2 share co-product k + 1: dot = c[k] * c[k + 1], their only
    # pair; reference computed here in closed form.
    counts = 1 + np.arange(n - 1) % 7
    first = np.arange(n - 1)
    keys = np.r_[first, first + 1]
    co_keys = np.r_[first + 1, first]
    pair_counts = np.r_[counts, counts]
    squared = np.zeros(n)
    np.add.at(squared, keys, pair_counts.astype(np.float64) ** 2)
    norms = np.sqrt(squared)
    (rows, cols, rank, similarity), _ = cosine_topk.neighbours(
        keys, co_keys, pair_counts, norms, 5, 0.0, 2
    )
    k = np.arange(n - 2)
    score = (counts[k] * counts[k + 1]).astype(np.float64) / (norms[k] * norms[k + 2])
    expected = {}
    for a, b, s in zip(
        np.r_[k, k + 2].tolist(), np.r_[k + 2, k].tolist(), np.r_[score, score], strict=True
    ):
        expected.setdefault(a, []).append((-s, b))
    want = [
        (a, b, r + 1, -s) for a in sorted(expected) for r, (s, b) in enumerate(sorted(expected[a]))
    ]
    got = list(zip(rows.tolist(), cols.tolist(), rank.tolist(), similarity.tolist(), strict=True))
    assert got == want
    assert rows.max() == n - 1


@pytest.mark.parametrize(
    "count", [2_000_000_000, 3_000_000_000], ids=["squared-norm-too-large", "count-beyond-int32"]
)
def test_counts_that_could_overflow_int64_are_refused(count: int) -> None:
    dense = np.zeros((3, 3), dtype=np.int64)
    dense[0, 1] = dense[1, 0] = dense[1, 2] = dense[2, 1] = count
    with pytest.raises(OverflowError, match="similarity_engine: sql"):
        run(sp.csr_matrix(dense), 5)


@pytest.mark.parametrize(
    ("pair_keys", "co_keys", "counts", "message"),
    [
        ([0, 1, 1], [1, 0, 2], [1, 1, 1], "symmetric"),
        ([0, 3], [3, 0], [1, 1], "product keys"),
        ([0, 1], [1, 0], [0, 0], "positive"),
        ([0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 1, 1], "stored twice"),
    ],
    ids=["one-direction-only", "key-without-norm", "zero-count", "pair-stored-twice"],
)
def test_malformed_pair_counts_get_a_clear_error(pair_keys, co_keys, counts, message) -> None:
    with pytest.raises(ValueError, match=message):
        cosine_topk.neighbours(
            np.array(pair_keys), np.array(co_keys), np.array(counts), np.ones(3), 5, 0.0, 1
        )


def test_no_pairs_gives_no_rows() -> None:
    empty = np.array([], dtype=np.int32)
    (rows, cols, rank, similarity), _ = cosine_topk.neighbours(
        empty, empty, np.array([], dtype=np.int64), np.zeros(4), 5, 0.0, 2
    )
    assert rows.size == cols.size == rank.size == similarity.size == 0


def pair_tables(con: duckdb.DuckDBPyConnection, c: sp.coo_matrix, norms: np.ndarray) -> None:
    con.register("p", {"a": c.row, "b": c.col, "n": c.data.astype(np.int64)})
    con.execute(
        "create table pairs as select a::integer as product_key, "
        "b::integer as co_product_key, n::bigint as pair_count from p"
    )
    keys = np.flatnonzero(norms)
    con.register("v", {"k": keys, "norm": norms[keys]})
    con.execute(
        "create table vectors as select k::integer as product_key, norm as vector_norm from v"
    )


def test_from_relations_equals_the_arrays() -> None:
    c = symmetric_counts(200, 0.05, 5, seed=4).tocoo()
    norms = norms_of(c.tocsr())
    with duckdb.connect() as con:
        pair_tables(con, c, norms)
        (rows, cols, rank, similarity), _ = cosine_topk.neighbours_from_relations(
            con.table("pairs"), con.table("vectors"), 200, 5, 0.1, 0.0, 2
        )
    got = list(zip(rows.tolist(), cols.tolist(), rank.tolist(), similarity.tolist(), strict=True))
    assert got == engine(c.tocsr(), norms, 5, 0.1)
    assert got == dense_reference(c.tocsr(), 5, 0.1, 0.0)


def test_from_relations_refuses_counts_beyond_int32_before_fetching() -> None:
    c = (symmetric_counts(50, 0.1, 3, seed=2) * 2_000_000_000).tocoo()
    with duckdb.connect() as con:
        pair_tables(con, c, norms_of(c.tocsr()))
        with pytest.raises(OverflowError, match="similarity_engine: sql"):
            cosine_topk.neighbours_from_relations(
                con.table("pairs"), con.table("vectors"), 50, 5, 0.0, 0.0, 1
            )


def test_from_relations_refuses_a_pair_stored_twice() -> None:
    # Twice in both directions: symmetric, so only the engine's grain check sees it.
    c = symmetric_counts(30, 0.2, 3, seed=5).tocoo()
    row, col, data = c.row, c.col, c.data
    first = np.flatnonzero(row < col)[0]
    mirror = np.flatnonzero((row == col[first]) & (col == row[first]))[0]
    extra = np.r_[first, mirror]
    doubled = sp.coo_matrix(
        (np.r_[data, data[extra]], (np.r_[row, row[extra]], np.r_[col, col[extra]])),
        shape=c.shape,
    )
    doubled.has_canonical_format = True  # keep the repeated entries apart
    with duckdb.connect() as con:
        pair_tables(con, doubled, norms_of(c.tocsr()))
        with pytest.raises(ValueError, match="stored twice"):
            cosine_topk.neighbours_from_relations(
                con.table("pairs"), con.table("vectors"), 30, 5, 0.0, 0.0, 1
            )


@pytest.mark.parametrize("product_count", [0, 3])
def test_from_relations_without_pairs_gives_no_rows(product_count: int) -> None:
    # A min_pair_count above every count leaves int_product_pair_counts empty.
    with duckdb.connect() as con:
        con.execute(
            "create table pairs (product_key integer, co_product_key integer, pair_count bigint)"
        )
        con.execute("create table vectors (product_key integer, vector_norm double)")
        (rows, *_), _ = cosine_topk.neighbours_from_relations(
            con.table("pairs"), con.table("vectors"), product_count, 5, 0.0, 0.0, 2
        )
    assert rows.size == 0
