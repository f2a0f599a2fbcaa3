{#
    The co-occurrence matrix C = X^T X with its diagonal left out, stored
    sparse, both directions: macros/steps/pair_counts.sql, over the orders
    max_order_lines keeps. The hold-out evaluation runs the same macro on its
    training orders.
#}
with

order_product_counts as (

    {{ counted_order_products(ref('int_order_product_counts'), ref('int_order_sizes')) }}

),

final as (

    {{ pair_counts('order_product_counts', var('min_pair_count')) }}

)

select * from final
