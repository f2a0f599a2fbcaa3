-- C = X^T X is symmetric with a zero diagonal, stored once per ordered pair:
-- every unordered pair {a, b}, a != b, has exactly two rows, (a, b) and (b, a),
-- with the same count. One group by checks the grain (no pair twice), the
-- symmetry and the diagonal. It groups on one bigint, least * 2^32 + greatest
-- (product keys are non-negative int32), which is ~3x faster than grouping on
-- the two columns on millions of pairs. Returns the pairs that break it.
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

    select * from unordered_pairs
    where
        row_count != 2
        -- two rows with the same product_key: a pair stored twice, or the diagonal
        or product_key = co_product_key
        or min_pair_count != max_pair_count

)

select * from validation_errors
