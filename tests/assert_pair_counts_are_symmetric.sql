-- C = X^T X is symmetric: every C[a, b] has an equal C[b, a]. Returns the breaks.
with

pair_counts as (

    select * from {{ ref('int_product_pair_counts') }}

),

validation_errors as (

    select
        pair_counts.product_key,
        pair_counts.co_product_key,
        pair_counts.pair_count,
        mirrored.pair_count as mirrored_pair_count

    from pair_counts
    left join pair_counts as mirrored
        on
            pair_counts.product_key = mirrored.co_product_key
            and pair_counts.co_product_key = mirrored.product_key
    where
        mirrored.pair_count is null
        or mirrored.pair_count != pair_counts.pair_count
        or pair_counts.product_key = pair_counts.co_product_key

)

select * from validation_errors
