"""The "sparse" engine's top-k: the same table as int_product_neighbours, fast.

The numeric work (sparse_dot_topn candidates made exact) is in
lib/cosine_topk.py, shared with int_threshold_sweep_recomputed; its docstring
explains the method. profiles.yml puts lib/ on the path (`module_paths`).
"""

import numpy as np
import pandas as pd

try:
    from cosine_topk import neighbours
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "cosine_topk (lib/cosine_topk.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error


def model(dbt, session):
    dbt.config(materialized="table")
    top_k = int(dbt.config.get("top_k"))
    floor = max(float(dbt.config.get("min_similarity")), 0.0)
    n_threads = max(1, int(dbt.config.get("n_threads")))

    product_count = dbt.ref("int_products").aggregate("count(*) as n").fetchnumpy()["n"][0]
    vectors = dbt.ref("int_product_vectors").select("product_key, vector_norm").fetchnumpy()
    pairs = (
        dbt.ref("int_product_pair_counts")
        .select("product_key, co_product_key, pair_count")
        .fetchnumpy()
    )

    norms = np.zeros(int(product_count), dtype=np.float64)
    norms[vectors["product_key"]] = vectors["vector_norm"]
    (rows, cols, rank, similarity), _ = neighbours(
        pairs["product_key"],
        pairs["co_product_key"],
        pairs["pair_count"],
        norms,
        top_k,
        floor,
        n_threads,
    )
    return pd.DataFrame(
        {
            "product_key": rows.astype(np.int32),
            "recommended_product_key": cols.astype(np.int32),
            "recommendation_rank": rank.astype(np.int32),
            "similarity": similarity,
        }
    )
