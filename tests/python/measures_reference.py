"""Independent references for the similarity measures and the hold-out evaluation.

Written from the formulas in the README ("Choosing a measure") and the papers
they come from, in dense numpy, not from the project's SQL or Python: the
tests compare the dbt tables against these. Small inputs only.

Notation: X is the orders x products 0/1 matrix (a product bought in an
order), c = X^T X (orders containing both), n = column sums of X (orders
containing each product), N = orders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Fit:
    """One measure fitted on some orders: a dense score matrix over product ids."""

    product_ids: list[str]
    scores: np.ndarray  # scores[a, b]: how much b is recommended for a (diagonal ignored)

    def top_k(self, k: int) -> dict[str, list[tuple[str, float]]]:
        """Each product's k best other products with a score > 0, ties by product id."""
        lists = {}
        for i, product_id in enumerate(self.product_ids):
            row = self.scores[i].copy()
            row[i] = -np.inf
            order = np.lexsort((np.arange(row.size), -row))
            picked = [(self.product_ids[j], float(row[j])) for j in order[:k] if row[j] > 0]
            if picked:
                lists[product_id] = picked
        return lists


def incidence(sales: pd.DataFrame, product_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(X as 0/1 over the given product ids, the line counts matrix), orders in any order."""
    orders, order_index = np.unique(sales["order_id"].to_numpy(dtype=str), return_inverse=True)
    column = {product_id: j for j, product_id in enumerate(product_ids)}
    product_index = np.array([column[p] for p in sales["product_id"]], dtype=np.int64)
    counts = np.zeros((orders.size, len(product_ids)))
    np.add.at(counts, (order_index, product_index), 1.0)
    return (counts > 0).astype(np.float64), counts


def first_order_fit(
    sales: pd.DataFrame,
    measure: str,
    shrinkage: float = 0.0,
    alpha: float = 0.8,
    rp3_alpha: float = 1.0,
    rp3_beta: float = 0.5,
    product_ids: list[str] | None = None,
) -> Fit:
    """The first-order measures' formulas, each written out on its own."""
    product_ids = product_ids or sorted(sales["product_id"].unique())
    x, _ = incidence(sales, product_ids)
    c = x.T @ x
    np.fill_diagonal(c, 0.0)
    n = x.sum(axis=0)
    orders = x.shape[0]
    na, nb = n[:, None], n[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "co_occurrence":
            scores = c / (1 + shrinkage)
        elif measure == "cosine":
            scores = c / (np.sqrt(na * nb) + shrinkage)
        elif measure == "jaccard":
            scores = c / (na + nb - c + shrinkage)
        elif measure == "lift":
            scores = c / (na * nb / orders + shrinkage)
        elif measure == "asymmetric_cosine":
            scores = c / (na**alpha * nb ** (1 - alpha) + shrinkage)
        elif measure == "rp3beta":
            # Random walk product -> order -> product (Paudel et al. 2016): P(a -> o) =
            # 1 / n_a, P(o -> b) = 1 / |o|, each raised to alpha; b's popularity ^ beta.
            to_order = (x / np.where(n > 0, n, 1)[None, :]).T ** rp3_alpha
            to_product = (x / x.sum(axis=1, keepdims=True)) ** rp3_alpha
            walk = to_order @ to_product
            # The shrinkage is added to the walk's denominator n_a^alpha n_b^beta.
            numerator = walk * na**rp3_alpha
            scores = numerator / (na**rp3_alpha * nb**rp3_beta + shrinkage)
        else:
            raise ValueError(measure)
    scores = np.where(c > 0, scores, 0.0)
    return Fit(product_ids, scores)


def second_order_fit(
    sales: pd.DataFrame, shrinkage: float = 0.0, product_ids: list[str] | None = None
) -> Fit:
    """The tutorial's cosine of rows of C (line counts), shrinkage added to the denominator."""
    product_ids = product_ids or sorted(sales["product_id"].unique())
    _, counts = incidence(sales, product_ids)
    co_matrix = counts.T @ counts
    np.fill_diagonal(co_matrix, 0.0)
    dots = co_matrix @ co_matrix.T
    norms = np.linalg.norm(co_matrix, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(dots > 0, dots / (np.outer(norms, norms) + shrinkage), 0.0)
    return Fit(product_ids, scores)


def is_holdout_by_hash(order_id: str, share: float) -> bool:
    """The documented split without dates: md5(order_id)'s first 8 hex digits below share * 2^32."""
    prefix = int(hashlib.md5(order_id.encode("utf-8")).hexdigest()[:8], 16)
    return prefix < int(share * 2**32)


@dataclass
class Scores:
    seed_count: int
    hit_rate: float
    recall: float
    long_tail_hit_rate: float
    seed_coverage: float
    catalogue_coverage: float
    same_category_rate: float


def evaluate(
    lists: dict[str, list[str]],
    training: pd.DataFrame,
    holdout: pd.DataFrame,
    categories: dict[str, str],
    head_share: float = 0.01,
) -> Scores:
    """The README's definitions, over seeds = products of held-out orders with >= 2 products."""
    order_counts = training.drop_duplicates(["order_id", "product_id"])["product_id"].value_counts()
    ranked = sorted(order_counts.items(), key=lambda item: (-item[1], item[0]))
    head = {product for product, _ in ranked[: max(1, int(np.floor(head_share * len(ranked))))]}
    seeds = hits = tail_hits = covered = 0
    recall = 0.0
    for _, products in holdout.groupby("order_id")["product_id"]:
        basket = set(products)
        if len(basket) < 2:
            continue
        for product in basket:
            seeds += 1
            recommended = lists.get(product, [])
            covered += bool(recommended)
            found = set(recommended) & (basket - {product})
            hits += bool(found)
            tail_hits += bool(found - head)
            recall += len(found) / (len(basket) - 1)
    recommended_anywhere = {p for recs in lists.values() for p in recs}
    firsts = [(p, recs[0]) for p, recs in lists.items() if recs]
    same = [categories[p] == categories[r] for p, r in firsts]
    return Scores(
        seed_count=seeds,
        hit_rate=hits / seeds,
        recall=recall / seeds,
        long_tail_hit_rate=tail_hits / seeds,
        seed_coverage=covered / seeds,
        catalogue_coverage=len(recommended_anywhere) / len(order_counts),
        same_category_rate=float(np.mean(same)) if same else float("nan"),
    )
