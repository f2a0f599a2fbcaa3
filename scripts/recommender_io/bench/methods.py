"""The two pipelines run here, each in a `--child` process of scripts/benchmark.py.

Each reads the sales file and writes its top-k as Parquet: product_id,
recommendation_rank, recommended_product_id, similarity.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..duckdb_files import file_reader as duckdb_reader

TOP_K = 5


def read_sales(path: Path) -> pd.DataFrame:
    """order_id, product_id, category as text, as the tutorial's sales_df.

    Surrounding spaces are trimmed, as the project's staging does (' 042' and
    '042' are one product), so that every method sees the same products.
    """
    if path.suffix == ".parquet":  # pandas would need pyarrow for Parquet
        frame = duckdb.sql(
            f"select order_id::varchar as order_id, product_id::varchar as product_id, "
            f"category::varchar as category from {duckdb_reader(path)}"
        ).df()
    else:
        columns = ["order_id", "product_id", "category"]
        frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
    return frame.apply(lambda column: column.str.strip())


def tutorial_method(sales_df: pd.DataFrame) -> pd.DataFrame:
    """The tutorial's code, unchanged except where pandas 3 requires it."""
    from sklearn.metrics.pairwise import cosine_similarity

    pivot_df = pd.pivot_table(
        sales_df, index="order_id", columns="product_id", values="category", aggfunc="count"
    )
    pivot_df.reset_index(inplace=True)
    pivot_df = pivot_df.fillna(0)
    pivot_df = pivot_df.drop("order_id", axis=1)

    co_matrix = pivot_df.T.dot(pivot_df)
    # pandas 3 (copy-on-write): .values is read-only, so fill a copy.
    values = co_matrix.to_numpy(copy=True)
    np.fill_diagonal(values, 0)
    co_matrix = pd.DataFrame(values, index=co_matrix.index, columns=co_matrix.columns)

    cos_score_df = pd.DataFrame(cosine_similarity(co_matrix))
    cos_score_df.index = co_matrix.index
    cos_score_df.columns = np.array(co_matrix.index)

    # Take top five scoring recs that aren't the original product
    product_recs = []
    for i in cos_score_df.index:
        product_recs.append(
            cos_score_df[cos_score_df.index != i][i].sort_values(ascending=False)[0:5].index
        )

    # Beyond the tutorial: keep each pick's similarity for the parity check.
    rows = []
    for product, recs in zip(cos_score_df.index, product_recs, strict=True):
        for rank, recommended in enumerate(recs, start=1):
            rows.append((product, rank, recommended, cos_score_df.at[recommended, product]))
    return pd.DataFrame(
        rows,
        columns=["product_id", "recommendation_rank", "recommended_product_id", "similarity"],
    )


def sparse_method(sales_df: pd.DataFrame, n_threads: int) -> pd.DataFrame:
    """scipy.sparse for C = X^T X, sparse_dot_topn for the cosine top-k."""
    import scipy.sparse as sp
    from sparse_dot_topn import sp_matmul_topn

    products, product_codes = np.unique(sales_df["product_id"].to_numpy(), return_inverse=True)
    order_codes, _ = pd.factorize(sales_df["order_id"])
    x = sp.csr_matrix(
        (np.ones(order_codes.size, dtype=np.int64), (order_codes, product_codes)),
        shape=(int(order_codes.max()) + 1, products.size),
    )
    c = (x.T @ x).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    norms = np.sqrt(np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    normalized = (sp.diags(inverse) @ c.astype(np.float64)).tocsr()
    top = sp_matmul_topn(
        normalized, normalized.T.tocsr(), top_n=TOP_K + 1, n_threads=n_threads
    ).tocoo()
    keep = (top.row != top.col) & (top.data > 0)
    frame = pd.DataFrame({"row": top.row[keep], "col": top.col[keep], "similarity": top.data[keep]})
    frame = frame.sort_values(["row", "similarity", "col"], ascending=[True, False, True])
    frame["recommendation_rank"] = frame.groupby("row").cumcount() + 1
    frame = frame[frame["recommendation_rank"] <= TOP_K]
    return pd.DataFrame(
        {
            "product_id": products[frame["row"].to_numpy()],
            "recommendation_rank": frame["recommendation_rank"].to_numpy(),
            "recommended_product_id": products[frame["col"].to_numpy()],
            "similarity": frame["similarity"].to_numpy(),
        }
    )


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with duckdb.connect() as con:
        con.register("frame", frame)
        con.execute(f"copy frame to '{path}' (format parquet)")


def read_parquet(path: Path) -> pd.DataFrame:
    return duckdb.sql(f"select * from {duckdb_reader(path)}").df()


def run_child(method: str, sales: Path, output: Path, n_threads: int) -> int:
    sales_df = read_sales(sales)
    if method == "tutorial":
        result = tutorial_method(sales_df)
    else:
        result = sparse_method(sales_df, n_threads)
    write_parquet(result, output)
    return 0
