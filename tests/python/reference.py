"""An independent reference: the tutorial's method, in numpy, on dense matrices.

Written from the tutorial's text, not from the project's SQL, so the pipeline
can be checked against it. Only for small inputs (dense orders x products).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Reference:
    product_ids: list[str]
    pair_counts: np.ndarray  # C = X^T X with a zero diagonal
    similarity: np.ndarray  # cosine_similarity(C)

    def index(self, product_id: str) -> int:
        return self.product_ids.index(product_id)


def tutorial_reference(sales: pd.DataFrame, min_pair_count: int = 1) -> Reference:
    """Steps 1-3 of the tutorial: per-order counts, co-occurrence, cosine."""
    orders, order_index = np.unique(sales["order_id"].to_numpy(dtype=str), return_inverse=True)
    products, product_index = np.unique(
        sales["product_id"].to_numpy(dtype=str), return_inverse=True
    )
    x = np.zeros((orders.size, products.size), dtype=np.float64)
    np.add.at(x, (order_index, product_index), 1.0)  # pivot_table(aggfunc='count')
    co_matrix = x.T @ x
    np.fill_diagonal(co_matrix, 0.0)
    # The tutorial's "sample size threshold": pairs seen fewer times are noise.
    co_matrix[co_matrix < min_pair_count] = 0.0
    norms = np.linalg.norm(co_matrix, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    normalized = co_matrix / safe[:, None]
    return Reference(list(products), co_matrix, normalized @ normalized.T)


def top_k(reference: Reference, product_id: str, k: int = 5) -> list[tuple[str, float]]:
    """Step 4: the k most similar other products with similarity > 0, best first."""
    i = reference.index(product_id)
    row = reference.similarity[i].copy()
    row[i] = -np.inf
    order = np.lexsort((np.arange(row.size), -row))
    return [(reference.product_ids[j], float(row[j])) for j in order[:k] if row[j] > 1e-12]
