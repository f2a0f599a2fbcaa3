{{ config(severity='warn') }}
-- Warns when the largest 1% of the orders counted (at least one) make more than
-- max_largest_orders_pair_share of all product pairs: a few huge orders (a
-- wholesale account, a test basket) then drive both the run time (n lines make
-- n^2 pairs) and the recommendations. Leave them out with max_order_lines
-- (see orders_excluded). Below 10,000 pairs there is no volume to speak of.
with

order_sizes as (

    select * from {{ ref('int_order_sizes') }}
    where not is_excluded_from_pairs

),

ranked as (

    select
        product_pair_count,
        row_number() over (order by product_pair_count desc) as size_rank,
        count(*) over () as order_count,
        sum(product_pair_count) over () as total_pair_count

    from order_sizes

),

largest as (

    select
        count(*) as largest_order_count,
        max(order_count) as order_count,
        sum(product_pair_count) as largest_orders_pair_count,
        max(total_pair_count) as total_pair_count

    from ranked
    where size_rank <= greatest(1, {{ integer_divide('order_count', '100') }})

),

validation_errors as (

    select
        *,
        round(largest_orders_pair_count / total_pair_count, 3) as largest_orders_pair_share

    from largest
    where
        total_pair_count >= 10000
        and largest_orders_pair_count
        > {{ var('max_largest_orders_pair_share', 0.5) | float }} * total_pair_count

)

select * from validation_errors
