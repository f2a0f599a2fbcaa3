"""Exact cosine top-k over a sparse co-occurrence matrix, shared by Python models.

dbt Python models cannot import each other, so the numeric code lives here and
profiles.yml puts this folder on the path (dbt-duckdb's `module_paths`).
Used by int_product_neighbours_sparse (the "sparse" engine) and
int_threshold_sweep_recomputed (which must rank exactly as the engine does).

The cosine of two co-occurrence vectors is a product of two sparse matrices;
the work is the sum over co-products of their degree squared, and the result
is dense. Instead of materializing every pair (what the SQL engine does),
`neighbours` asks sparse_dot_topn for each product's best candidates in
parallel, without storing the rest, then makes the answer exact:

1. candidates: the top `top_k + margin` of the row-normalized product C_n C_n^T;
2. their similarity is recomputed exactly as the SQL engine computes it
   (integer dot product divided by the product of the norms), so both engines
   give bit-identical numbers and rankings. The integer dot product is
   recovered from the candidate's float cosine (cosine * |a| * |b|, rounded):
   a sum of m non-negative float64 terms is within gamma(m) = m*u/(1 - m*u)
   of exact (u = 2^-53), so when that bound, times the estimate, is below
   1/2 the rounding is provably the exact integer. Pairs where it is not (dot
   products beyond ~1e11 over thousands of terms) are recomputed from C;
3. a row is proven complete when its k-th exact similarity beats, by more than
   the floating-point error bound, everything the candidate search left out;
   rows it cannot prove (ties straddling the cut) are recomputed in full with
   exact integer arithmetic, in chunks.
Memory stays bounded by the candidate lists and one chunk of full rows.

The candidate search is the whole cost (the sum over co-products of their
degree squared); it uses every core (n_threads).
"""

import numpy as np
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn

# Upper bound on |approximate - exact| cosine. The candidate search sums at
# most a few million products of numbers <= 1 in float64 (error ~1e-13).
FLOAT_ERROR_BOUND = 1e-9
# float64 unit roundoff, for the rounding-error bound of a dot product.
UNIT_ROUNDOFF = 2.0**-53
# Roundings outside the sum: two per normalized entry, two to undo the norms.
EXTRA_ROUNDINGS = 8
# Beyond this a float64 no longer holds every integer: recompute from C.
EXACT_FLOAT_INTEGER = 2.0**52
# Extra candidates fetched beyond top_k + 1 (self): cheap, and it settles most ties.
CANDIDATE_MARGIN = 24
# Rows recomputed in full at a time when a tie needs it (bounds memory).
FULL_ROW_CHUNK = 256
# Candidate pairs whose exact dot product is computed at a time.
PAIR_CHUNK = 200_000


def candidate_search(normalized, top_n, n_threads):
    """The top_n largest entries of each row of normalized @ normalized.T (unsorted)."""
    normalized.sort_indices()
    # C is symmetric, so the transpose of the row-normalized C is C with its
    # columns normalized.
    return sp_matmul_topn(
        normalized, normalized.T.tocsr(), top_n=top_n, sort=False, n_threads=n_threads
    ).tocsr()


def exact_dot_products(matrix, rows, cols):
    """C[rows[i]] . C[cols[i]] in integers, chunked to bound memory."""
    out = np.empty(rows.size, dtype=np.int64)
    for start in range(0, rows.size, PAIR_CHUNK):
        stop = start + PAIR_CHUNK
        left = matrix[rows[start:stop]]
        right = matrix[cols[start:stop]]
        out[start:stop] = np.asarray(left.multiply(right).sum(axis=1)).ravel()
    return out


def recovered_dot_products(matrix, approx, norms, degrees, rows, cols):
    """C[rows[i]] . C[cols[i]] in integers, from the float cosines when provably exact.

    approx[i] is the float64 cosine of the two rows as sparse_dot_topn summed
    it: at most min(degree) non-negative terms, each a product of entries
    normalized with two roundings. Multiplying back by both norms gives an
    estimate within gamma(terms + EXTRA_ROUNDINGS) * estimate of the integer;
    below 1/2 (we ask 1/4), rounding it is exact. The rest is recomputed.
    """
    estimate = approx * norms[rows] * norms[cols]
    terms = np.minimum(degrees[rows], degrees[cols]) + EXTRA_ROUNDINGS
    gamma = terms * UNIT_ROUNDOFF / (1.0 - terms * UNIT_ROUNDOFF)
    provable = (estimate * gamma * (1.0 + 1e-6) < 0.25) & (estimate < EXACT_FLOAT_INTEGER)
    dots = np.rint(estimate).astype(np.int64)
    unprovable = np.flatnonzero(~provable)
    if unprovable.size:
        dots[unprovable] = exact_dot_products(matrix, rows[unprovable], cols[unprovable])
    return dots


def rank_rows(rows, cols, similarity, top_k):
    """Sort by (row, similarity desc, col asc) and keep top_k per row."""
    order = np.lexsort((cols, -similarity, rows))
    rows, cols, similarity = rows[order], cols[order], similarity[order]
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    counts = np.diff(np.r_[starts, rows.size])
    rank = np.arange(rows.size) - np.repeat(starts, counts) + 1
    keep = rank <= top_k
    return rows[keep], cols[keep], rank[keep], similarity[keep]


def full_rows(matrix, norms, row_keys, floor, top_k, at_least):
    """Exact top_k of the given rows from their complete similarity rows.

    at_least[key] is a similarity the row's k-th best is known to reach (the
    k-th best of its candidates, or -inf): entries below it cannot make the
    top_k, and dropping them first keeps the sort small when ties abound.
    """
    parts = []
    for start in range(0, row_keys.size, FULL_ROW_CHUNK):
        chunk = row_keys[start : start + FULL_ROW_CHUNK]
        dots = (matrix[chunk] @ matrix.T).tocoo()
        rows, cols = chunk[dots.row], dots.col.astype(np.int64)
        similarity = dots.data.astype(np.float64) / (norms[rows] * norms[cols])
        keep = (rows != cols) & (similarity > floor) & (similarity >= at_least[rows])
        parts.append(rank_rows(rows[keep], cols[keep], similarity[keep], top_k))
    return parts


def neighbours(
    pair_keys, co_keys, pair_counts, norms, top_k, floor, n_threads, margin=CANDIDATE_MARGIN
):
    """Exact top_k per row of the cosine of C's rows, C given as (key, co_key, count).

    Returns ([rows, cols, rank, similarity], number of rows recomputed in full).
    Ranked by similarity desc then col asc; only similarity > floor; no self pairs.
    `margin` extra candidates per row: any value gives the same exact result;
    fewer make the search cheaper and leave more tied rows to recompute in full.
    """
    n = norms.size
    matrix = sp.csr_matrix((pair_counts.astype(np.int64), (pair_keys, co_keys)), shape=(n, n))
    inverse = np.divide(1.0, norms, out=np.zeros(n), where=norms > 0)
    normalized = (sp.diags(inverse) @ matrix.astype(np.float64)).tocsr()
    top_n = top_k + 1 + margin
    candidates = candidate_search(normalized, top_n, n_threads)

    returned = np.diff(candidates.indptr)
    rows = np.repeat(np.arange(n), returned)
    cols = candidates.indices.astype(np.int64)
    approx = candidates.data
    smallest_returned = np.full(n, np.inf)
    filled = np.flatnonzero(returned)
    if filled.size:
        smallest_returned[filled] = np.minimum.reduceat(approx, candidates.indptr[filled])

    keep = rows != cols
    rows, cols, approx = rows[keep], cols[keep], approx[keep]
    degrees = np.diff(matrix.indptr)
    dots = recovered_dot_products(matrix, approx, norms, degrees, rows, cols)
    similarity = dots.astype(np.float64) / (norms[rows] * norms[cols])
    keep = similarity > floor
    ranked = rank_rows(rows[keep], cols[keep], similarity[keep], top_k)

    # Which rows are proven? A row whose candidate list was not full saw every
    # non-zero similarity. A full row is proven when its k-th exact value
    # exceeds anything left out (<= smallest returned + error bound).
    kth = np.full(n, -np.inf)
    at_k = ranked[2] == top_k
    kth[ranked[0][at_k]] = ranked[3][at_k]
    unproven = (returned >= top_n) & ~(kth > smallest_returned + FLOAT_ERROR_BOUND)
    unproven_keys = np.flatnonzero(unproven)

    settled = ~np.isin(ranked[0], unproven_keys)
    parts = [tuple(part[settled] for part in ranked)]
    parts += full_rows(matrix, norms, unproven_keys, floor, top_k, kth)
    return [np.concatenate(column) for column in zip(*parts, strict=True)], unproven_keys.size
