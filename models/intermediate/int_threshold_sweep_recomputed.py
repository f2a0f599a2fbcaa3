"""The threshold sweep's recomputed rows: the validation metric at other min_pair_counts.

recommendation_threshold_sweep has one row per value of the
`min_pair_count_sweep` var (plus this build's min_pair_count). Its row for
this build's own min_pair_count comes from the build's recommendations; this
model computes the others, each the rank-1 recommendation of every product
exactly as a build with that min_pair_count would compute it: the
co-occurrence matrix C = X^T X from int_order_product_counts (without the
orders int_order_sizes excludes from pair counting), pairs below the
threshold removed, then the same exact cosine top-k code as the sparse engine
(lib/cosine_topk.py) with top_k = 1: same similarities, same tie-breaking,
same min_similarity floor. Only rank 1 is needed for the metric and pruned
matrices are small, so each pass is cheap; and as this model reads only the
per-order counts, dbt runs it alongside the pair counting, the cosine engine
and their tests instead of after them. Its pair counts at this build's own
min_pair_count are checked against int_product_pair_counts by
recommendation_threshold_sweep, so a change in how the pipeline counts pairs
fails the build instead of skewing the sweep.
"""

import json

import numpy as np
import pandas as pd
import scipy.sparse as sp

try:
    from cosine_topk import neighbours
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "cosine_topk (lib/cosine_topk.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error

# Squared norms are summed in int64; beyond this the pipeline's hugeint sums
# would differ, so refuse rather than report wrong numbers.
INT64_SAFE = 2**62
# Extra candidates per product for a rank-1 search (the engine fetches 24 for
# its top 5): the result is exact whatever the margin, and measured, 4 costs
# ~10% less CPU than 24 (instacart slice, 5M generated lines).
RANK_ONE_MARGIN = 4


# The table's columns and types; the rates are null at this build's own min_pair_count.
COLUMN_TYPES = {
    "min_pair_count": "int32",
    "pair_count": "int64",
    "pair_count_total": "int64",
    "category_count": "Int64",
    "rated_category_count": "Int64",
    "product_count": "Int64",
    "same_category_count": "Int64",
    "products_without_recommendations": "Int64",
    "micro_same_category_rate": "float64",
    "macro_same_category_rate": "float64",
    "coverage": "float64",
}


def sweep_values(raw, current):
    """The thresholds to try: the var's list (or one value), plus the current one."""
    values = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(values, list | tuple):
        values = [values]
    try:
        thresholds = {int(value) for value in values} | {int(current)}
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"var min_pair_count_sweep must be a list of whole numbers, e.g. [1, 2, 5]; got {raw!r}"
        ) from error
    if min(thresholds) < 1:
        raise ValueError(
            f"var min_pair_count_sweep values must be >= 1 (1 keeps every pair); got {raw!r}"
        )
    return sorted(thresholds)


def co_occurrence(order_keys, product_keys, quantities, n_products):
    """Upper triangle of C = X^T X (a < b) as (a, b, count) arrays."""
    n_orders = int(order_keys.max()) + 1 if order_keys.size else 0
    x = sp.csr_matrix(
        (quantities.astype(np.int64), (order_keys, product_keys)), shape=(n_orders, n_products)
    )
    c = sp.triu(x.T @ x, k=1).tocoo()
    keep = c.data > 0
    return c.row[keep].astype(np.int64), c.col[keep].astype(np.int64), c.data[keep]


def rank_one(left, right, counts, n_products, floor, n_threads):
    """Each product's rank-1 recommendation at this pruning: (product keys, recommended keys)."""
    pair_keys = np.concatenate([left, right])
    co_keys = np.concatenate([right, left])
    both = np.concatenate([counts, counts]).astype(np.int64)
    squared = np.zeros(n_products, dtype=np.int64)
    np.add.at(squared, pair_keys, both * both)
    if squared.size and squared.max() >= INT64_SAFE:
        raise OverflowError("pair counts too large for the sweep's int64 norms")
    norms = np.sqrt(squared.astype(np.float64))
    (rows, cols, rank, _), _ = neighbours(
        pair_keys, co_keys, both, norms, 1, floor, n_threads, margin=RANK_ONE_MARGIN
    )
    first = rank == 1
    return rows[first], cols[first]


def summarize(categories, rows, cols):
    """The recommendation_validation_overall figures for one set of rank-1 picks."""
    n_products = categories.size
    same = categories[rows] == categories[cols]
    per_category = pd.DataFrame({"category": categories[rows], "same": same})
    rates = per_category.groupby("category")["same"].mean()
    product_count = int(rows.size)
    return {
        "category_count": int(np.unique(categories).size),
        "rated_category_count": int(rates.size),
        "product_count": product_count,
        "same_category_count": int(same.sum()),
        "products_without_recommendations": n_products - product_count,
        "micro_same_category_rate": same.mean() if product_count else np.nan,
        "macro_same_category_rate": rates.mean() if rates.size else np.nan,
        "coverage": product_count / n_products if n_products else np.nan,
    }


def model(dbt, session):
    dbt.config(materialized="table")
    current = int(dbt.config.get("current_min_pair_count"))
    thresholds = sweep_values(dbt.config.get("min_pair_counts"), current)
    floor = max(float(dbt.config.get("min_similarity")), 0.0)
    n_threads = max(1, int(dbt.config.get("n_threads")))

    products = dbt.ref("int_products").select("product_key, category").order("product_key").df()
    orders = (
        dbt.ref("int_order_product_counts").select("order_key, product_key, quantity").fetchnumpy()
    )
    n_products = len(products)
    categories = products["category"].to_numpy(dtype=object)
    if not np.array_equal(products["product_key"].to_numpy(), np.arange(n_products)):
        raise ValueError("int_products.product_key must be 0..n-1; rebuild int_products")

    # Orders the pipeline leaves out of pair counting (max_order_lines) add no pairs here either.
    excluded = (
        dbt.ref("int_order_sizes")
        .filter("is_excluded_from_pairs")
        .select("order_key")
        .fetchnumpy()["order_key"]
    )
    order_keys = np.asarray(orders["order_key"], dtype=np.int64)
    counted = ~np.isin(order_keys, np.asarray(excluded, dtype=np.int64))
    left, right, counts = co_occurrence(
        order_keys[counted],
        np.asarray(orders["product_key"], dtype=np.int64)[counted],
        np.asarray(orders["quantity"], dtype=np.int64)[counted],
        n_products,
    )
    rows = []
    for threshold in thresholds:
        keep = counts >= threshold
        row = {
            "min_pair_count": threshold,
            "pair_count": int(keep.sum()),
            "pair_count_total": int(counts[keep].sum()),
        }
        # This build's own threshold: its counts are checked against
        # int_product_pair_counts (by recommendation_threshold_sweep);
        # recommendation_threshold_sweep takes its rates from the build itself.
        if threshold != current:
            picks = rank_one(left[keep], right[keep], counts[keep], n_products, floor, n_threads)
            row |= summarize(categories, *picks)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMN_TYPES)).astype(COLUMN_TYPES)
