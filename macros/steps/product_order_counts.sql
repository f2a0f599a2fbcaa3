{#
    One row per product of X: orders containing it (n_a, what first-order
    measures divide by) and its lines. order_product_counts as in pair_counts:
    only the orders counted.
#}
{% macro product_order_counts(order_product_counts) %}

    select
        product_key,
        cast(count(*) as bigint) as order_count,
        cast(sum(quantity) as bigint) as line_count
    from {{ order_product_counts }}
    group by product_key

{% endmacro %}
