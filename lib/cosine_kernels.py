"""Compiled loops of the exact cosine top-k (lib/cosine_topk.py drives them).

numba compiles these once and caches the machine code beside this file
(`__pycache__`), so later builds load it in a fraction of a second. Every
function releases the GIL (`nogil`): the search runs in plain Python threads,
one row range at a time, while dbt keeps scheduling its other nodes.

The arithmetic is exact: dot products of integer counts are summed in int64
(cosine_topk checks first that no dot product can reach 2**63), and each
score is computed from the exact dot product in float64 exactly as the SQL
engine computes it, `cast(dot as double) / (norm_a * norm_b + shrinkage)`.
No candidate list, no error bound: every pair sharing a co-product is scored.
"""

import numba as nb
import numpy as np

_COMPILE = {"nogil": True, "cache": True}
# A row is summed into a dense accumulator and scanned (no branch per
# multiply-add) when its multiply-adds reach this fraction of the columns to
# scan; sparser rows keep a list of the columns they touch instead.
SCAN_DENSITY = 0.25
# gather_by_row's outcomes.
GATHERED, NOT_SYMMETRIC, REPEATED_PAIR = 0, 1, 2
# A pair is not divided out when its dot product is below this fraction of
# what it would need to enter either heap (search_rows says why that is exact).
BELOW = 1.0 - 2.0**-40


@nb.njit(**_COMPILE)
def scatter_by_column(pair_keys, co_keys, counts, label, indptr, mirrored, rows, values):
    """First counting sort: C's entries grouped by column (new labels) into rows/values.

    indptr holds the row starts (cumulative degrees in new labels); C is
    symmetric, so a column's entries number its row's. With mirrored, each
    (a, b, count) is one unordered pair and stands for both (a, b) and (b, a).
    Returns False, writing nothing more, if a column would overflow its slot
    (the keys do not make a symmetric C of those degrees).
    """
    n = indptr.size - 1
    fill = indptr[:n].copy()
    for e in range(pair_keys.size):
        row = label[pair_keys[e]]
        column = label[co_keys[e]]
        for _ in range(2 if mirrored else 1):
            at = fill[column]
            if at >= indptr[column + 1]:
                return False
            rows[at] = row
            values[at] = counts[e]
            fill[column] = at + 1
            row, column = column, row
    return True


@nb.njit(**_COMPILE)
def gather_by_row(indptr, rows, values, indices, data):
    """Second counting sort: walking columns in order, rows get ascending columns.

    Returns GATHERED, NOT_SYMMETRIC if a row would overflow its slot, or
    REPEATED_PAIR if a row gets the same column twice (a pair stored twice:
    its columns come in ascending order, so a repeat is the previous one).
    """
    n = indptr.size - 1
    fill = indptr[:n].copy()
    for column in range(n):
        for e in range(indptr[column], indptr[column + 1]):
            row = rows[e]
            at = fill[row]
            if at >= indptr[row + 1]:
                return NOT_SYMMETRIC
            if at > indptr[row] and indices[at - 1] == column:
                return REPEATED_PAIR
            indices[at] = column
            data[at] = values[e]
            fill[row] = at + 1
    return GATHERED


@nb.njit(**_COMPILE)
def row_work(indptr, indices):
    """Per row, the summed degrees of its co-products: a bound on its multiply-adds."""
    n = indptr.size - 1
    work = np.zeros(n, dtype=np.float64)
    for row in range(n):
        total = 0
        for e in range(indptr[row], indptr[row + 1]):
            k = indices[e]
            total += indptr[k + 1] - indptr[k]
        work[row] = total
    return work


@nb.njit(**_COMPILE)
def largest_squared_norm(indptr, data):
    """max over rows of sum(count**2), in float64 (relative error < 1e-12)."""
    largest = 0.0
    for row in range(indptr.size - 1):
        total = 0.0
        for e in range(indptr[row], indptr[row + 1]):
            value = np.float64(data[e])
            total += value * value
        largest = max(largest, total)
    return largest


@nb.njit(**_COMPILE)
def _ranks_after(score, key, other_score, other_key):
    """(score, key) ranks after (other_score, other_key): lower score, or same and larger key."""
    return score < other_score or (score == other_score and key > other_key)


@nb.njit(**_COMPILE)
def _offer(scores, keys, base, top_k, score, key):
    """Put (score, key) into the row's heap of its top_k if it beats the worst kept.

    scores/keys[base : base + top_k] is a heap with the worst entry at its
    root; empty slots hold (-inf, max key), worse than any real entry.
    """
    if not _ranks_after(scores[base], keys[base], score, key):
        return
    at = 0
    while True:
        child = 2 * at + 1
        if child >= top_k:
            break
        right = child + 1
        if right < top_k and _ranks_after(
            scores[base + right], keys[base + right], scores[base + child], keys[base + child]
        ):
            child = right
        if _ranks_after(scores[base + child], keys[base + child], score, key):
            scores[base + at] = scores[base + child]
            keys[base + at] = keys[base + child]
            at = child
        else:
            break
    scores[base + at] = score
    keys[base + at] = key


@nb.njit(**_COMPILE)
def _offer_to_row(scores, keys, roots, row, top_k, score, key):
    """_offer to a row's heap, then note the heap's worst kept score in roots[row]."""
    _offer(scores, keys, row * top_k, top_k, score, key)
    roots[row] = scores[row * top_k]


@nb.njit(**_COMPILE)
def search_rows(
    indptr,
    indices,
    data,
    norms,
    keys,
    shrinkage,
    floor,
    top_k,
    first,
    last,
    scores,
    neighbour_keys,
    accumulator,
    touched,
    starts,
    roots,
):
    """Score every pair (i, j), first <= i < last, j > i, sharing a co-product.

    Each pair is computed once, from its smaller label, and offered to both
    rows' heaps (the dot product and the score are symmetric bit for bit:
    integer sums, and a * b == b * a in IEEE arithmetic). Row i's dot
    products with j > i are the sum over its co-products k of
    C[i, k] * C[k, j] over the tail of row k past column i (binary search:
    columns are sorted). accumulator (zeros, one per column), touched (one
    per column) and starts (one per entry of the longest row) are this
    thread's scratch; scores/neighbour_keys are this thread's heaps and roots
    (one per row) their worst kept scores. The accumulator may be int32 when
    no dot product can reach 2**31 (cosine_topk checks the squared norms), and
    indices/data uint16 when the labels/counts fit (half the bytes to read).

    A pair's score is `float64(dot) / (norm_i * norm_j + shrinkage)`, as the
    SQL engine computes it, but most pairs are turned away before the
    division: roots[row] is the worst score a row's heap keeps (-inf until it
    holds top_k), and if dot < fl(fl(root * denom) * BELOW) the exact quotient
    dot / denom lies below root by a relative margin of about 2**-40, far
    more than the 2**-53 by which rounding can move it, so the computed score
    is strictly below root and that heap's _offer would refuse it. A pair is
    skipped only when both heaps would refuse it; with root -inf (or denom 0)
    the test is false and the pair is scored. Nothing a heap ends up holding
    changes. (The test is written out in both branches: as a called function
    it made the search 4x slower.)
    Returns how many rows were summed into the dense accumulator and scanned.
    The inner loops index with unsigned integers: numba then skips its
    negative-index wraparound test (measured: ~25% fewer CPU seconds).
    """
    n = norms.size
    scanned = 0
    for i in range(first, last):
        begin = indptr[i]
        end = indptr[i + 1]
        multiply_adds = 0
        for p in range(begin, end):
            k = indices[p]
            low = indptr[k]
            high = indptr[k + 1]
            while low < high:
                middle = (low + high) >> 1
                if indices[middle] <= i:
                    low = middle + 1
                else:
                    high = middle
            starts[p - begin] = low
            multiply_adds += indptr[k + 1] - low
        if multiply_adds == 0:
            continue
        norm_i = norms[i]
        key_i = keys[i]
        if multiply_adds < SCAN_DENSITY * (n - i - 1):
            count = 0
            for p in range(begin, end):
                k = indices[p]
                weight = np.int64(data[p])
                q = np.uint64(starts[p - begin])
                stop = np.uint64(indptr[k + 1])
                while q < stop:
                    j = np.uint64(indices[q])
                    if accumulator[j] == 0:
                        touched[count] = j
                        count += 1
                    accumulator[j] += weight * data[q]
                    q += np.uint64(1)
            for t in range(count):
                j = touched[t]
                exact = np.float64(accumulator[j])
                accumulator[j] = 0
                denom = norm_i * norms[j] + shrinkage
                if exact < roots[i] * denom * BELOW and exact < roots[j] * denom * BELOW:
                    continue
                score = exact / denom
                if score > floor:
                    _offer_to_row(scores, neighbour_keys, roots, i, top_k, score, keys[j])
                    _offer_to_row(scores, neighbour_keys, roots, j, top_k, score, key_i)
        else:
            scanned += 1
            for p in range(begin, end):
                k = indices[p]
                weight = np.int64(data[p])
                q = np.uint64(starts[p - begin])
                stop = np.uint64(indptr[k + 1])
                while q < stop:
                    accumulator[np.uint64(indices[q])] += weight * data[q]
                    q += np.uint64(1)
            for j in range(i + 1, n):
                dot = accumulator[j]
                if dot != 0:
                    accumulator[j] = 0
                    exact = np.float64(dot)
                    denom = norm_i * norms[j] + shrinkage
                    if exact < roots[i] * denom * BELOW and exact < roots[j] * denom * BELOW:
                        continue
                    score = exact / denom
                    if score > floor:
                        _offer_to_row(scores, neighbour_keys, roots, i, top_k, score, keys[j])
                        _offer_to_row(scores, neighbour_keys, roots, j, top_k, score, key_i)
    return scanned


@nb.njit(**_COMPILE)
def merge_heaps(scores, neighbour_keys, label, top_k, rows, cols, ranks, similarity):
    """Each row's top_k from the threads' heaps, in key order: returns the rows written.

    scores/neighbour_keys are (threads, labels * top_k). Every pair was
    offered to exactly one thread's heaps (the thread that computed it), so
    the union of a row's heaps holds its top_k. Sorted by score desc, key asc.
    """
    threads = scores.shape[0]
    width = threads * top_k
    pool_scores = np.empty(width, dtype=np.float64)
    pool_keys = np.empty(width, dtype=np.int64)
    written = 0
    for key in range(label.size):
        base = label[key] * top_k
        size = 0
        for t in range(threads):
            for s in range(base, base + top_k):
                if scores[t, s] != -np.inf:
                    # insertion sort, best first
                    at = size
                    while at > 0 and _ranks_after(
                        pool_scores[at - 1], pool_keys[at - 1], scores[t, s], neighbour_keys[t, s]
                    ):
                        pool_scores[at] = pool_scores[at - 1]
                        pool_keys[at] = pool_keys[at - 1]
                        at -= 1
                    pool_scores[at] = scores[t, s]
                    pool_keys[at] = neighbour_keys[t, s]
                    size += 1
        for r in range(min(size, top_k)):
            rows[written] = key
            cols[written] = pool_keys[r]
            ranks[written] = r + 1
            similarity[written] = pool_scores[r]
            written += 1
    return written
