-- int_threshold_sweep_recomputed builds its own C = X^T X (it runs alongside
-- the pipeline, not after it). At this build's min_pair_count its C must be
-- int_product_pair_counts exactly: same number of pairs, same total count
-- (the pipeline stores each unordered pair twice). Returns a row when not:
-- update co_occurrence() in models/intermediate/int_threshold_sweep_recomputed.py.
with

sweep as (

    select
        pair_count,
        pair_count_total
    from {{ ref('int_threshold_sweep_recomputed') }}
    where min_pair_count = {{ var('min_pair_count') }}

),

pipeline as (

    select
        count(*) // 2 as pair_count,
        coalesce(sum(pair_count), 0) // 2 as pair_count_total
    from {{ ref('int_product_pair_counts') }}

),

validation_errors as (

    select
        pipeline.pair_count,
        pipeline.pair_count_total,
        sweep.pair_count as sweep_pair_count,
        sweep.pair_count_total as sweep_pair_count_total
    from pipeline
    left join sweep on true
    where
        sweep.pair_count is null
        or sweep.pair_count != pipeline.pair_count
        or sweep.pair_count_total != pipeline.pair_count_total

)

select * from validation_errors
