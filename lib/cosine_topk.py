"""Exact cosine top-k over a sparse co-occurrence matrix, shared by Python models.

dbt Python models cannot import each other, so the numeric code lives here and
profiles.yml puts this folder on the path (dbt-duckdb's `module_paths`).
Used, through lib/engine_inputs.py, by int_product_neighbours_sparse (the
"sparse" engine), the hold-out evaluation's and the threshold sweep's fits.

The score of two products a, b is computed exactly as the SQL engine does:
the integer dot product of their rows of C (the pair counts), then
`float64(dot) / (norm_a * norm_b + shrinkage)`; shrinkage 0 is the cosine.
The result of C C^T is nearly dense on real catalogues (232 million pairs for
21,499 products), so it is never stored: a compiled kernel
(lib/cosine_kernels.py) walks C row by row (Gustavson's method: row a of
C C^T is the sum over a's co-products k of C[a, k] * row k of C), sums the dot
products exactly in int64, scores each one and keeps each row's best top_k in
a small heap, ties broken by the neighbour's key ascending. Because C is
symmetric, each pair is computed once (from the smaller of its two labels)
and offered to both rows: half the multiply-adds of a plain C C^T.

Nothing is approximated, so there is no candidate list to prove or repair
(what the earlier sparse_dot_topn search needed): every pair that shares a
co-product is scored from its exact dot product. Memory is C in CSR (4 to 8
bytes per entry: see RelabelledMatrix), a heap of top_k per product per
thread, and one accumulator row per thread.

The search reads C's columns and counts far more often than anything else
(once per pair of co-products), so they are stored as narrow as they fit:
uint16 labels when there are at most 65,536 products, uint16 counts when no
pair count exceeds 65,535, and an int32 accumulator when no dot product can
reach 2**31 (every squared norm below it, by Cauchy-Schwarz). Each narrowing
is exact (the same integers), so the table is the same bit for bit; numba
compiles one version per combination met. Together with the heaps' worst
scores kept beside them (lib/cosine_kernels.py search_rows), measured on the
generated 818k-line set and the instacart slice: 20-25% fewer CPU seconds in
the search.

Products are relabelled by degree (most co-products first) before the
search: the columns every row touches then sit together at the start of the
accumulator (measured: ~20% fewer CPU seconds on the instacart slice). The
search runs in `n_threads` plain threads over row ranges of about equal work;
the kernel releases the GIL, so dbt can run other nodes meanwhile.
"""

from concurrent.futures import ThreadPoolExecutor
from itertools import count

import numpy as np

try:
    import cosine_kernels
except ModuleNotFoundError as error:  # pragma: no cover - an install problem, said plainly
    raise ModuleNotFoundError(
        f"{error}: lib/cosine_kernels.py needs numba (pinned in requirements.txt); "
        "run `make install`."
    ) from error

# Row ranges per thread: small enough that the last range does not leave a
# core idle for long, large enough that the per-call overhead is negligible.
RANGES_PER_THREAD = 64
# Dot products are summed in int64: by Cauchy-Schwarz, dot(a, b) <= |a| |b|
# <= max(|a|^2, |b|^2), and every partial sum is smaller (counts are
# positive), so squared norms (summed in float64, relative error < 1e-12)
# below this keep every sum below 2**63. It also implies counts < 2**31.
INT64_SAFE_SQUARED_NORM = 2.0**62
# The same bound for an int32 accumulator, with a margin (2**16, a relative
# 3e-5) far beyond the float64 sum's rounding.
INT32_SAFE_SQUARED_NORM = 2.0**31 - 2.0**16
INT32_MAX = np.iinfo(np.int32).max
UINT16_MAX = np.iinfo(np.uint16).max


NOT_SYMMETRIC = (
    "C must be symmetric (every pair in both directions, once): a product's number of "
    "co-products differs from the number of products it is a co-product of"
)

REPEATED_PAIR = (
    "C must hold each pair once: a (product_key, co_product_key) pair is stored twice "
    "(int_product_pair_counts' grain is one row per pair)"
)


def too_large(what):
    return (
        f"pair counts too large for the sparse engine's exact int64 dot products ({what}: "
        "counts must fit int32 and squared norms stay below 2**62); use the SQL engine "
        "(similarity_engine: sql), which sums in hugeint"
    )


def check_keys(pair_keys, co_keys, n):
    if pair_keys.size and (
        min(pair_keys.min(), co_keys.min()) < 0 or max(pair_keys.max(), co_keys.max()) >= n
    ):
        raise ValueError(f"product keys must lie in 0..{n - 1} (one norm per product)")


class RelabelledMatrix:
    """C in CSR over products relabelled by degree, descending (ties by key).

    Built in two counting sorts (O(entries), each row's columns ascending):
    `add` groups the given entries by column, `finish` gathers them by row.
    In between the caller may drop its copy of the entries (what
    neighbours_from_relations does), so they and the CSR are never all held at
    once. label[key] is a product's new label, keys[label] its key; columns
    are uint16 for up to 65,536 products (else int32) and counts uint16 when
    all fit (else int32): 4 to 8 bytes per entry.
    """

    def __init__(self, degrees):
        n = degrees.size
        self.keys = np.argsort(-degrees, kind="stable")
        self.label = np.empty(n, dtype=np.int64)
        self.label[self.keys] = np.arange(n)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(degrees[self.keys], out=self.indptr[1:])
        self._rows = np.empty(self.indptr[-1], dtype=label_dtype(n))
        self._values = np.empty(self.indptr[-1], dtype=np.int32)

    def add(self, pair_keys, co_keys, pair_counts, mirrored):
        check_keys(pair_keys, co_keys, self.label.size)
        if pair_keys.size:
            if pair_counts.min() <= 0:
                raise ValueError(
                    "pair counts must be positive (C holds only the pairs bought together)"
                )
            if pair_counts.max() > INT32_MAX:
                raise OverflowError(too_large(f"a pair count of {pair_counts.max():,}"))
        if not cosine_kernels.scatter_by_column(
            pair_keys,
            co_keys,
            pair_counts,
            self.label,
            self.indptr,
            mirrored,
            self._rows,
            self._values,
        ):
            raise ValueError(NOT_SYMMETRIC)

    def finish(self):
        """(indptr, indices, data): C's rows in new labels."""
        largest = int(self._values.max()) if self._values.size else 0
        indices = np.empty(self._rows.size, dtype=label_dtype(self.label.size))
        data = np.empty(self._rows.size, dtype=np.uint16 if largest <= UINT16_MAX else np.int32)
        outcome = cosine_kernels.gather_by_row(self.indptr, self._rows, self._values, indices, data)
        if outcome == cosine_kernels.NOT_SYMMETRIC:
            raise ValueError(NOT_SYMMETRIC)
        if outcome == cosine_kernels.REPEATED_PAIR:
            raise ValueError(REPEATED_PAIR)
        self._rows = self._values = None
        return self.indptr, indices, data


def label_dtype(n):
    """The narrowest integer type holding the labels 0..n-1 (uint16 up to 65,536 products)."""
    return np.uint16 if n <= UINT16_MAX + 1 else np.int32


def relabelled_matrix(pair_keys, co_keys, pair_counts, n):
    """RelabelledMatrix of C given in both directions: (indptr, indices, data, label, keys)."""
    pair_keys, co_keys = np.asarray(pair_keys), np.asarray(co_keys)
    check_keys(pair_keys, co_keys, n)
    degrees = np.bincount(pair_keys, minlength=n)
    if not np.array_equal(degrees, np.bincount(co_keys, minlength=n)):
        raise ValueError(NOT_SYMMETRIC)
    matrix = RelabelledMatrix(degrees)
    matrix.add(pair_keys, co_keys, np.asarray(pair_counts), mirrored=False)
    return *matrix.finish(), matrix.label, matrix.keys


def row_ranges(indptr, indices, parts):
    """Cut the rows into about `parts` ranges of similar work (multiply-adds).

    Row i's work is at most the summed degrees of its co-products (the
    kernel only walks the part past column i); ranges are cut on that bound.
    """
    work = cosine_kernels.row_work(indptr, indices)
    total = np.cumsum(work)
    if not total.size or total[-1] == 0:
        return [(0, work.size)]
    cuts = np.searchsorted(total, np.linspace(0, total[-1], parts + 1)[1:-1], side="right")
    bounds = np.unique(np.r_[0, cuts, work.size])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def neighbours(
    pair_keys,
    co_keys,
    pair_counts,
    norms,
    top_k,
    floor,
    n_threads,
    shrinkage=0.0,
):
    """Exact top_k per row of C's row scores, C given as (key, co_key, count).

    Returns ([rows, cols, rank, similarity], number of rows recomputed in full
    (always 0 now: kept for callers)). Ranked by similarity desc then col asc;
    only similarity > floor; no self pairs; rows in key order. The score is
    dot / (norm_a * norm_b + shrinkage): shrinkage 0 gives the cosine bit for
    bit, a positive one lowers the score of pairs with small norms.
    """
    # Shrinkage never raises a score above the cosine, even in floating point:
    # for s >= 0, fl(fl(|a| |b|) + s) >= fl(|a| |b|) (rounding is monotone),
    # and dot >= 0 divided by a larger positive number rounds to a value no
    # larger. So shrunk <= cosine <= 1, the floor test keeps its meaning, and
    # any bound on the cosines of pairs left out of a candidate search (as the
    # former sparse_dot_topn path proved its cut with) also bounds their
    # shrunk scores. The kernel needs no such bound: it scores every pair.
    top_k, shrinkage = checked_options(top_k, shrinkage)
    norms = np.asarray(norms, dtype=np.float64)
    matrix = relabelled_matrix(pair_keys, co_keys, pair_counts, norms.size)
    return top_k_of_matrix(*matrix, norms, top_k, floor, n_threads, shrinkage)


def checked_options(top_k, shrinkage):
    top_k, shrinkage = int(top_k), float(shrinkage)
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if not shrinkage >= 0.0 or not np.isfinite(shrinkage):
        raise ValueError(f"shrinkage must be a finite number >= 0, got {shrinkage}")
    return top_k, shrinkage


def top_k_of_matrix(indptr, indices, data, label, keys, norms, top_k, floor, n_threads, shrinkage):
    """The search itself, on a RelabelledMatrix: what `neighbours` returns."""
    n = norms.size
    largest = cosine_kernels.largest_squared_norm(indptr, data)
    if largest >= INT64_SAFE_SQUARED_NORM:
        raise OverflowError(too_large(f"a squared norm of {largest:.3g}"))
    relabelled_norms = norms[keys]

    n_threads = max(1, int(n_threads))
    heap_scores = np.full((n_threads, n * top_k), -np.inf)
    heap_keys = np.full((n_threads, n * top_k), INT32_MAX, dtype=np.int32)
    heap_roots = np.full((n_threads, n), -np.inf)
    accumulator_dtype = np.int32 if largest < INT32_SAFE_SQUARED_NORM else np.int64
    ranges = row_ranges(indptr, indices, RANGES_PER_THREAD * n_threads)
    next_range = count()
    longest = int(np.diff(indptr).max()) if n else 0
    keys32 = keys.astype(np.int32)

    def search(thread):
        accumulator = np.zeros(n, dtype=accumulator_dtype)
        touched = np.empty(n, dtype=np.int32)
        starts = np.empty(longest, dtype=np.int64)
        # next() on itertools.count is atomic under the GIL: a shared work queue.
        while (at := next(next_range)) < len(ranges):
            first, last = ranges[at]
            cosine_kernels.search_rows(
                indptr,
                indices,
                data,
                relabelled_norms,
                keys32,
                shrinkage,
                float(floor),
                top_k,
                first,
                last,
                heap_scores[thread],
                heap_keys[thread],
                accumulator,
                touched,
                starts,
                heap_roots[thread],
            )

    if n_threads == 1:
        search(0)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            for done in [pool.submit(search, thread) for thread in range(n_threads)]:
                done.result()

    size = n * top_k
    rows = np.empty(size, dtype=np.int64)
    cols = np.empty(size, dtype=np.int64)
    rank = np.empty(size, dtype=np.int64)
    similarity = np.empty(size, dtype=np.float64)
    written = cosine_kernels.merge_heaps(
        heap_scores, heap_keys, label, top_k, rows, cols, rank, similarity
    )
    return [rows[:written], cols[:written], rank[:written], similarity[:written]], 0


def neighbours_from_relations(
    pair_counts, vectors, product_count, top_k, floor, shrinkage, n_threads
):
    """`neighbours` on DuckDB relations shaped like int_product_pair_counts / int_product_vectors.

    pair_counts has (product_key, co_product_key, pair_count) in both
    directions, vectors (product_key, vector_norm); keys are
    0..product_count - 1. Only the pairs with product_key < co_product_key are
    fetched (half the rows), straight into numpy (fetchnumpy: no pandas frame
    in between), as int32 (the largest count is checked first, in DuckDB).
    """
    top_k, shrinkage = checked_options(top_k, shrinkage)
    largest = pair_counts.aggregate("max(pair_count) as largest").fetchnumpy()["largest"]
    if largest.size and int(largest[0] or 0) > INT32_MAX:
        raise OverflowError(too_large(f"a pair count of {int(largest[0]):,}"))
    fetched = vectors.select("product_key, vector_norm").fetchnumpy()
    norms = np.zeros(int(product_count), dtype=np.float64)
    norms[np.asarray(fetched["product_key"])] = np.asarray(fetched["vector_norm"])
    # C is symmetric: fetch each unordered pair once and mirror it while building.
    pairs = (
        pair_counts.filter("product_key < co_product_key")
        .select("product_key::integer as a, co_product_key::integer as b, pair_count::integer as c")
        .fetchnumpy()
    )
    first, second = np.asarray(pairs["a"]), np.asarray(pairs["b"])
    check_keys(first, second, norms.size)
    degrees = np.bincount(first, minlength=norms.size) + np.bincount(second, minlength=norms.size)
    matrix = RelabelledMatrix(degrees)
    matrix.add(first, second, np.asarray(pairs["c"]), mirrored=True)
    del pairs, first, second  # the fetched pairs go before the CSR is gathered
    indptr, indices, data = matrix.finish()
    return top_k_of_matrix(
        indptr, indices, data, matrix.label, matrix.keys, norms, top_k, floor, n_threads, shrinkage
    )
