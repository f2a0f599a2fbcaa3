"""The "sparse" engine's top-k: the same table as int_product_neighbours, fast.

The numeric work (an exact, compiled top-k over C's rows) is in
lib/cosine_topk.py, shared with int_threshold_sweep_recomputed; its docstring
explains the method. profiles.yml puts lib/ on the path (`module_paths`).
"""

import numpy as np
import pandas as pd

try:
    from cosine_topk import neighbours_from_relations
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "cosine_topk (lib/cosine_topk.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error


def model(dbt, session):
    dbt.config(materialized="table")
    top_k = int(dbt.config.get("top_k"))
    floor = max(float(dbt.config.get("min_similarity")), 0.0)
    shrinkage = float(dbt.config.get("shrinkage", 0) or 0)
    n_threads = max(1, int(dbt.config.get("n_threads")))

    product_count = dbt.ref("int_products").aggregate("count(*) as n").fetchnumpy()["n"][0]
    (rows, cols, rank, similarity), _ = neighbours_from_relations(
        dbt.ref("int_product_pair_counts"),
        dbt.ref("int_product_vectors"),
        int(product_count),
        top_k,
        floor,
        shrinkage,
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
