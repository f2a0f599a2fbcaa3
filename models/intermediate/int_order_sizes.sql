{#
    How much pair counting each order costs: an order with n different
    products adds n (n - 1) / 2 pairs, so one huge order can outweigh
    thousands of ordinary ones. Orders above the max_order_lines var (0 = no
    limit, the tutorial) are flagged and left out of int_product_pair_counts.
#}
{%- set max_order_lines = var('max_order_lines', 0) | int -%}
with

order_product_counts as (

    select * from {{ ref('int_order_product_counts') }}

),

order_sizes as (

    select
        order_key,
        order_id,
        cast(sum(quantity) as bigint) as line_count,
        cast(count(*) as bigint) as product_count

    from order_product_counts
    group by order_key, order_id

),

final as (

    select
        order_key,
        order_id,
        line_count,
        product_count,
        {{ integer_divide('product_count * (product_count - 1)', '2') }} as product_pair_count,
        {{ max_order_lines }} > 0 and line_count > {{ max_order_lines }} as is_excluded_from_pairs

    from order_sizes

)

select * from final
