{#
    The co-occurrence matrix C = X^T X without its diagonal, sparse, in both
    directions: one row per ordered pair (a, b), a != b, bought together, with
      pair_count  = C[a, b] = sum over orders of n_a * n_b (the tutorial's count)
      order_count = orders containing both (what first-order measures count)
    Pairs with pair_count below min_pair_count are left out. Each unordered
    pair is counted once and mirrored, which halves the join.

    order_product_counts: a relation or CTE with one row per (order_key,
    product_key) and its quantity (X), holding only the orders to count:
    int_product_pair_counts passes every order max_order_lines keeps, the
    hold-out evaluation the training orders.
#}
{% macro pair_counts(order_product_counts, min_pair_count) %}

    with

    half_pairs as (

        select
            left_side.product_key,
            right_side.product_key as co_product_key,
            sum(left_side.quantity * right_side.quantity) as pair_count,
            count(*) as order_count

        from {{ order_product_counts }} as left_side
        inner join {{ order_product_counts }} as right_side
            on
                left_side.order_key = right_side.order_key
                and left_side.product_key < right_side.product_key
        group by left_side.product_key, right_side.product_key
        having sum(left_side.quantity * right_side.quantity) >= {{ min_pair_count | int }}

    )

    select
        product_key,
        co_product_key,
        cast(pair_count as bigint) as pair_count,
        cast(order_count as bigint) as order_count
    from half_pairs

    union all

    select
        co_product_key as product_key,
        product_key as co_product_key,
        cast(pair_count as bigint) as pair_count,
        cast(order_count as bigint) as order_count
    from half_pairs

{% endmacro %}
