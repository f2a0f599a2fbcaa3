"""The "sparse" engine's top-k: the same table as int_product_neighbours, fast.

The numeric work (an exact, compiled top-k over C's rows) is in
lib/cosine_topk.py, shared with the evaluation's and the sweep's fits through
lib/engine_inputs.py; its docstring explains the method. profiles.yml puts
lib/ on the path (`module_paths`).
"""

try:
    from engine_inputs import row_count, top_k_from_relations
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "engine_inputs (lib/engine_inputs.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error


def model(dbt, session):
    dbt.config(materialized="table")
    # A dict of NumPy arrays, which dbt-duckdb writes as the table (no pandas needed).
    return top_k_from_relations(
        dbt.ref("int_product_pair_counts"),
        dbt.ref("int_product_vectors"),
        row_count(dbt.ref("int_products")),
        top_k=int(dbt.config.get("top_k")),
        floor=max(float(dbt.config.get("min_similarity")), 0.0),
        n_threads=max(1, int(dbt.config.get("n_threads"))),
        shrinkage=float(dbt.config.get("similarity_shrinkage")),
    )
