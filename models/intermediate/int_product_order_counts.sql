{#
    n_a of the first-order measures: orders containing each product, over
    the orders pair counting counts (macros/steps/product_order_counts.sql).
#}
with

order_product_counts as (

    {{ counted_order_products(ref('int_order_product_counts'), ref('int_order_sizes')) }}

),

final as (

    {{ product_order_counts('order_product_counts') }}

)

select * from final
