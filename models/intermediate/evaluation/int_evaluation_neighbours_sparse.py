"""The hold-out evaluation's second-order cosine fits with the sparse engine.

One top-k per second_order_cosine config of int_evaluation_measures (the
evaluation_measures var), fitted on the training orders' pair counts and
vectors, which the production build's SQL macros computed
(int_evaluation_training_*): the same engine and inputs code as
int_product_neighbours_sparse (lib/engine_inputs.py).
"""

import pandas as pd

try:
    from engine_inputs import row_count, top_k_from_relations
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "engine_inputs (lib/engine_inputs.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error

COLUMNS = {
    "config_id": "int32",
    "product_key": "int32",
    "recommended_product_key": "int32",
    "recommendation_rank": "int32",
    "similarity": "float64",
}


def model(dbt, session):
    dbt.config(materialized="table")
    configs = (
        dbt.ref("int_evaluation_measures")
        .filter("measure_order = 'second'")
        .select("config_id, similarity_shrinkage")
        .order("config_id")
        .fetchnumpy()
    )
    pair_counts = dbt.ref("int_evaluation_training_pair_counts")
    vectors = dbt.ref("int_evaluation_training_vectors")
    products = row_count(dbt.ref("int_products"))
    fits = [pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in COLUMNS.items()})]
    for config_id, shrinkage in zip(
        configs["config_id"], configs["similarity_shrinkage"], strict=True
    ):
        fit = top_k_from_relations(
            pair_counts,
            vectors,
            products,
            top_k=int(dbt.config.get("top_k")),
            floor=max(float(dbt.config.get("min_similarity")), 0.0),
            n_threads=max(1, int(dbt.config.get("n_threads"))),
            shrinkage=float(shrinkage),
        )
        fits.append(pd.DataFrame(fit).assign(config_id=int(config_id)))
    return pd.concat(fits, ignore_index=True)[list(COLUMNS)].astype(COLUMNS)
