"""The threshold sweep's rank-1 fits with the sparse engine.

For each threshold of the sweep (the min_pair_count_sweep var plus this
build's min_pair_count), every product's rank-1 recommendation: the sparse
engine on int_threshold_sweep_pair_counts with the pairs below the threshold
removed, and that threshold's norms from int_threshold_sweep_vectors, which
the production build's SQL macros computed. Same code as
int_product_neighbours_sparse (lib/engine_inputs.py), with top_k 1.
"""

import json

import pandas as pd

try:
    from engine_inputs import row_count, top_k_from_relations
except ModuleNotFoundError as error:
    raise ModuleNotFoundError(
        "engine_inputs (lib/engine_inputs.py) is not importable: run dbt from the project root "
        "or set DBT_PROJECT_DIR, so profiles.yml's module_paths finds lib/."
    ) from error


def model(dbt, session):
    dbt.config(materialized="table")
    # As macros/steps/sweep_thresholds.sql (YAML config cannot call macros).
    # (dbt only passes the config keys it finds in plain dbt.config.get calls.)
    sweep_values = dbt.config.get("sweep_values")
    current = dbt.config.get("current_min_pair_count")
    # dbt renders the var as a list, or as its text when partial parsing reuses it.
    if isinstance(sweep_values, str):
        sweep_values = json.loads(sweep_values)
    thresholds = sorted({int(value) for value in sweep_values} | {int(current)})
    pair_counts = dbt.ref("int_threshold_sweep_pair_counts")
    vectors = dbt.ref("int_threshold_sweep_vectors")
    products = row_count(dbt.ref("int_products"))
    fits = []
    for threshold in thresholds:
        fit = top_k_from_relations(
            pair_counts.filter(f"pair_count >= {int(threshold)}"),
            vectors.filter(f"min_pair_count = {int(threshold)}"),
            products,
            top_k=1,
            floor=max(float(dbt.config.get("min_similarity")), 0.0),
            n_threads=max(1, int(dbt.config.get("n_threads"))),
            shrinkage=float(dbt.config.get("similarity_shrinkage")),
        )
        fits.append(pd.DataFrame(fit).assign(min_pair_count=int(threshold)))
    columns = ["min_pair_count", "product_key", "recommended_product_key", "recommendation_rank"]
    return pd.concat(fits, ignore_index=True)[[*columns, "similarity"]].astype(
        {"min_pair_count": "int32"}
    )
