{#
    X restricted to the orders pair counting counts: one row per (order_key,
    product_key) with its quantity. Orders above the max_order_lines var add
    no pairs (they are listed in orders_excluded), so they are left out here,
    and every measure sees the same orders: pairs, per-product order counts
    and the order total. With max_order_lines 0 (the default) every order counts.
#}
{% macro counted_order_products(order_product_counts, order_sizes) %}

    select
        order_key,
        product_key,
        quantity
    from {{ order_product_counts }}
    {% if var('max_order_lines') | int > 0 -%}
    where order_key not in (
        select excluded_orders.order_key
        from {{ order_sizes }} as excluded_orders
        where excluded_orders.is_excluded_from_pairs
    )
    {%- endif %}

{% endmacro %}
