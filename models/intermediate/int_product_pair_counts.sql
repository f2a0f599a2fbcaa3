{#
    The co-occurrence matrix C = X^T X with its diagonal left out, stored
    sparse: one row per ordered pair (a, b), a != b, with
    C[a, b] = sum over orders of n_a * n_b. Each unordered pair is counted
    once and mirrored, which halves the join.
#}
with

order_product_counts as (

    select * from {{ ref('int_order_product_counts') }}
    {%- if var('max_order_lines') | int > 0 %}
    -- Orders above the max_order_lines var add no pairs (listed in orders_excluded).
    where order_key not in (
        select excluded_orders.order_key
        from {{ ref('int_order_sizes') }} as excluded_orders
        where excluded_orders.is_excluded_from_pairs
    )
    {%- else %}
    -- depends_on: {{ ref('int_order_sizes') }}
    -- max_order_lines is 0: every order adds its pairs.
    {%- endif %}

),

half_pairs as (

    select
        left_side.product_key,
        right_side.product_key as co_product_key,
        sum(left_side.quantity * right_side.quantity) as pair_count

    from order_product_counts as left_side
    inner join order_product_counts as right_side
        on
            left_side.order_key = right_side.order_key
            and left_side.product_key < right_side.product_key
    group by left_side.product_key, right_side.product_key
    having sum(left_side.quantity * right_side.quantity) >= {{ var('min_pair_count') }}

),

final as (

    select
        product_key,
        co_product_key,
        cast(pair_count as bigint) as pair_count
    from half_pairs

    union all

    select
        co_product_key as product_key,
        product_key as co_product_key,
        cast(pair_count as bigint) as pair_count
    from half_pairs

)

select * from final
