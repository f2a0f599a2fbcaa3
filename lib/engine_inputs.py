"""The exact cosine top-k (cosine_topk.neighbours_from_relations) as a model's table.

Several Python models fit the second-order cosine on different inputs: the
production pair counts (int_product_neighbours_sparse), the hold-out
evaluation's training pair counts, the threshold sweep's pruned pair counts.
Each passes its relations (the SQL macros pair_counts and product_vectors
built them, so every fit runs the same SQL); the engine fetches them the same
way for all, and this module gives back the neighbours table every path
shares. (dbt finds a Python model's refs in the model's own file, so the
models call dbt.ref and pass the relations here.)
"""

from __future__ import annotations

import atexit
import gc

import numpy as np
from cosine_topk import neighbours_from_relations

# These models run inside dbt's own process, which exits right after the build.
# Python's last act is a garbage collection of every object still alive (dbt's
# manifest, numba's compiler): ~0.6 s of the instacart build, only to free memory
# the operating system takes back anyway. Freezing them at exit (atexit runs
# before that collection) leaves them out of it. dbt-duckdb's own exit handler,
# which runs after this one, still closes the database: it drops the last
# reference, which frees without the collector (no .wal file is left behind).
atexit.register(gc.freeze)


def top_k_from_relations(
    pair_counts,
    vectors,
    product_count: int,
    top_k: int,
    floor: float,
    n_threads: int,
    shrinkage: float = 0.0,
) -> dict[str, np.ndarray]:
    """Top-k neighbours (product_key, recommended_product_key, recommendation_rank, similarity).

    pair_counts: a relation with product_key, co_product_key, pair_count (C,
    both directions); vectors: one with product_key, vector_norm.

    The columns as NumPy arrays, in that order: a model can return them as they
    are (dbt-duckdb registers the result with DuckDB, which reads a dict of
    arrays as a table: INTEGER and DOUBLE columns, as from a DataFrame), which
    spares the default build importing pandas (~0.15 s); pd.DataFrame() takes it.
    """
    (rows, cols, rank, similarity), _ = neighbours_from_relations(
        pair_counts, vectors, product_count, top_k, floor, shrinkage, n_threads
    )
    return {
        "product_key": rows.astype(np.int32),
        "recommended_product_key": cols.astype(np.int32),
        "recommendation_rank": rank.astype(np.int32),
        "similarity": similarity,
    }


def row_count(relation) -> int:
    """Rows of a relation, e.g. int_products (product keys are 0..n-1)."""
    return int(relation.aggregate("count(*) as n").fetchnumpy()["n"][0])
