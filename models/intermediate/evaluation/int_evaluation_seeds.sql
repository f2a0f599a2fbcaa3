{#
    The hold-out evaluation's test cases: every product of every held-out
    order with at least two products. A seed is a hit when one of its
    product's recommendations (fitted on the training orders) is elsewhere
    in the same order.
#}
with

holdout_orders as (

    select order_key from {{ ref('int_evaluation_orders') }}
    where is_holdout

),

order_products as (

    select
        order_product_counts.order_key,
        order_product_counts.product_key,
        count(*) over (partition by order_product_counts.order_key) as order_product_count
    from {{ ref('int_order_product_counts') }} as order_product_counts
    inner join holdout_orders on order_product_counts.order_key = holdout_orders.order_key

),

final as (

    select
        order_key,
        product_key,
        cast(order_product_count as integer) as order_product_count
    from order_products
    where order_product_count >= 2

)

select * from final
