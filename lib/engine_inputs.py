"""Run the exact cosine top-k (cosine_topk.neighbours) on dbt relations.

Several Python models fit the second-order cosine on different inputs: the
production pair counts (int_product_neighbours_sparse), the hold-out
evaluation's training pair counts, the threshold sweep's pruned pair counts.
Each passes its relations (the SQL macros pair_counts and product_vectors
built them, so every fit runs the same SQL); this module turns them into the
engine's arrays, the same way for all. (dbt finds a Python model's refs in the
model's own file, so the models call dbt.ref and pass the relations here.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from cosine_topk import neighbours


def top_k_from_relations(
    pair_counts,
    vectors,
    product_count: int,
    top_k: int,
    floor: float,
    n_threads: int,
    shrinkage: float = 0.0,
    margin: int | None = None,
) -> pd.DataFrame:
    """Top-k neighbours (product_key, recommended_product_key, rank, similarity).

    pair_counts: a relation with product_key, co_product_key, pair_count (C,
    both directions); vectors: one with product_key, vector_norm.
    """
    if shrinkage:
        raise ValueError(
            "similarity_shrinkage > 0 with second_order_cosine needs the sql engine for now: "
            "add similarity_engine: sql to --vars."
        )
    norms = np.zeros(int(product_count), dtype=np.float64)
    fetched = vectors.select("product_key, vector_norm").fetchnumpy()
    norms[fetched["product_key"]] = fetched["vector_norm"]
    pairs = pair_counts.select("product_key, co_product_key, pair_count").fetchnumpy()
    options = {} if margin is None else {"margin": margin}
    (rows, cols, rank, similarity), _ = neighbours(
        pairs["product_key"],
        pairs["co_product_key"],
        pairs["pair_count"],
        norms,
        top_k,
        floor,
        n_threads,
        **options,
    )
    return pd.DataFrame(
        {
            "product_key": rows.astype(np.int32),
            "recommended_product_key": cols.astype(np.int32),
            "recommendation_rank": rank.astype(np.int32),
            "similarity": similarity,
        }
    )


def row_count(relation) -> int:
    """Rows of a relation, e.g. int_products (product keys are 0..n-1)."""
    return int(relation.aggregate("count(*) as n").fetchnumpy()["n"][0])
