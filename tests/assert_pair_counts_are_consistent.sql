-- The co-occurrence matrix C = X^T X as int_product_pair_counts stores it.
-- Returns one row per break of:
-- 1. grain and symmetry: every unordered pair {a, b}, a != b, has exactly two
--    rows, (a, b) and (b, a), with the same count. One group by on one bigint,
--    least * 2^32 + greatest (product keys are non-negative int32), checks the
--    grain (no pair twice), the symmetry and the diagonal at once;
-- 2. min_pair_count: no pair below it.
-- (recommendation_threshold_sweep also checks C against an independent count.)
with

pair_counts as (

    select * from {{ ref('int_product_pair_counts') }}

),

unordered_pairs as (

    select
        cast(least(product_key, co_product_key) as bigint) * 4294967296
        + greatest(product_key, co_product_key) as unordered_pair_id,
        min(product_key) as product_key,
        max(product_key) as co_product_key,
        count(*) as row_count,
        min(pair_count) as min_pair_count,
        max(pair_count) as max_pair_count

    from pair_counts
    group by unordered_pair_id

),

validation_errors as (

    select
        'not exactly (a, b) and (b, a) with equal counts, a != b' as problem,
        product_key,
        co_product_key,
        row_count as observed,
        2 as expected
    from unordered_pairs
    where
        row_count != 2
        -- two rows with the same product_key: a pair stored twice, or the diagonal
        or product_key = co_product_key
        or min_pair_count != max_pair_count

    union all

    select
        'pair_count below the min_pair_count var' as problem,
        product_key,
        co_product_key,
        min_pair_count as observed,
        {{ var('min_pair_count') }} as expected
    from unordered_pairs
    where min_pair_count < {{ var('min_pair_count') }}

)

select * from validation_errors
