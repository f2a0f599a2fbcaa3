-- The co-occurrence matrix C = X^T X as int_product_pair_counts stores it,
-- checked in one scan with per-product sums (memory: a few numbers per
-- product, not one entry per pair: the former group by on every unordered
-- pair held ~500 MB at 1.47M lines and took 3.5 s on the build's critical path).
-- Returns one row per break of:
-- 1. symmetry, counts per direction: C's row and column of every product hold
--    the same entries. Each product's row (as product_key) and column (as
--    co_product_key) are summarized by the number of entries and the sums of
--    the other key, the count, their product and the key's square; a count
--    changed in one direction, a pair missing or stored twice in one
--    direction changes them. (A pair stored twice in both directions keeps C
--    symmetric; the model cannot make one, its pairs come from one group by,
--    and the sparse engine refuses a repeated pair: lib/cosine_kernels.py.)
-- 2. the diagonal: no product paired with itself;
-- 3. min_pair_count: no pair below it.
-- (recommendation_threshold_sweep also checks C against an independent count.)
with

pair_counts as (

    select
        product_key,
        co_product_key,
        pair_count
    from {{ ref('int_product_pair_counts') }}

),

as_rows as (

    select
        product_key,
        count(*) as entries,
        sum(cast(co_product_key as {{ type_wide_integer() }})) as key_sum,
        sum(cast(pair_count as {{ type_wide_integer() }})) as count_sum,
        sum(cast(co_product_key as {{ type_wide_integer() }}) * pair_count) as product_sum,
        sum(cast(co_product_key as {{ type_wide_integer() }}) * co_product_key) as square_sum
    from pair_counts
    group by product_key

),

as_columns as (

    select
        co_product_key as product_key,
        count(*) as entries,
        sum(cast(product_key as {{ type_wide_integer() }})) as key_sum,
        sum(cast(pair_count as {{ type_wide_integer() }})) as count_sum,
        sum(cast(product_key as {{ type_wide_integer() }}) * pair_count) as product_sum,
        sum(cast(product_key as {{ type_wide_integer() }}) * product_key) as square_sum
    from pair_counts
    group by co_product_key

),

validation_errors as (

    select
        'row and column of C differ: a count not mirrored, a pair missing or repeated one way'
            as problem,
        coalesce(as_rows.product_key, as_columns.product_key) as product_key,
        cast(null as integer) as co_product_key,
        coalesce(as_rows.entries, 0) as observed,
        coalesce(as_columns.entries, 0) as expected
    from as_rows
    full outer join as_columns on as_rows.product_key = as_columns.product_key
    where
        as_rows.product_key is null
        or as_columns.product_key is null
        or as_rows.entries != as_columns.entries
        or as_rows.key_sum != as_columns.key_sum
        or as_rows.count_sum != as_columns.count_sum
        or as_rows.product_sum != as_columns.product_sum
        or as_rows.square_sum != as_columns.square_sum

    union all

    select
        'a product paired with itself' as problem,
        product_key,
        co_product_key,
        pair_count as observed,
        0 as expected
    from pair_counts
    where product_key = co_product_key

    union all

    select
        'pair_count below the min_pair_count var' as problem,
        product_key,
        co_product_key,
        pair_count as observed,
        {{ var('min_pair_count') }} as expected
    from pair_counts
    where pair_count < {{ var('min_pair_count') }}

)

select * from validation_errors
