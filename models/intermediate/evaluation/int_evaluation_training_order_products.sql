{#
    X of the training orders: what every measure is fitted on in the
    hold-out evaluation. Nothing from a held-out order enters the fit.
#}
with

order_product_counts as (

    select * from {{ ref('int_order_product_counts') }}

),

training_orders as (

    select order_key from {{ ref('int_evaluation_orders') }}
    where not is_holdout

),

final as (

    select
        order_product_counts.order_key,
        order_product_counts.product_key,
        order_product_counts.quantity
    from order_product_counts
    inner join training_orders on order_product_counts.order_key = training_orders.order_key

)

select * from final
