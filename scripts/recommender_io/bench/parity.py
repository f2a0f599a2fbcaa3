"""Is a method's top-k the reference's? Similarities within 1e-9, ids equal up to ties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .methods import read_parquet

SIMILARITY_TOLERANCE = 1e-9

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
