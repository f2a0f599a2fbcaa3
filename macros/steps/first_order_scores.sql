{#
    A first-order measure's score for every pair bought together, in both
    directions: one row per (product_key, other_product_key, similarity),
    the measure's formula (macros/measures/) over
      c   = pair_counts.order_count        orders containing both
      n_a = product_order_counts.order_count of the product viewed
      n_b = the same for the recommended product
      N   = order_total, a SQL expression: orders counted
    and, for rp3beta only, the random walk's weighted count, summed here
    from order_product_counts (X, the orders counted) for the pairs kept.
    Every input covers the same orders: the production build passes all
    orders max_order_lines keeps, the hold-out evaluation its training orders.

    config: a measure config (macros/measures/_configs.sql).
#}
{% macro first_order_scores(config, pair_counts, product_order_counts, order_total, order_product_counts) %}
    {%- set measure = config['measure'] -%}

    with

    {% if measure == 'rp3beta' -%}
    order_sizes as (

        select
            order_key,
            power(cast(count(*) as double), -{{ config['parameters']['rp3_alpha'] }}) as order_weight
        from {{ order_product_counts }}
        group by order_key

    ),

    weighted_order_products as (

        select
            order_product_counts.order_key,
            order_product_counts.product_key,
            order_sizes.order_weight
        from {{ order_product_counts }} as order_product_counts
        inner join order_sizes on order_product_counts.order_key = order_sizes.order_key

    ),

    weighted_half_pairs as (

        select
            left_side.product_key,
            right_side.product_key as co_product_key,
            sum(left_side.order_weight) as weighted_pair_count
        from weighted_order_products as left_side
        inner join weighted_order_products as right_side
            on
                left_side.order_key = right_side.order_key
                and left_side.product_key < right_side.product_key
        group by left_side.product_key, right_side.product_key

    ),

    weighted_pairs as (

        select product_key, co_product_key, weighted_pair_count from weighted_half_pairs
        union all
        select
            co_product_key as product_key,
            product_key as co_product_key,
            weighted_pair_count
        from weighted_half_pairs

    ),

    {% endif -%}

    pair_inputs as (

        select
            pair_counts.product_key,
            pair_counts.co_product_key as other_product_key,
            pair_counts.pair_count,
            pair_counts.order_count as pair_order_count,
            product_counts.order_count as product_order_count,
            other_counts.order_count as other_order_count,
            {% if measure == 'rp3beta' -%}
            weighted_pairs.weighted_pair_count,
            {% endif -%}
            {{ order_total }} as order_total

        from {{ pair_counts }} as pair_counts
        inner join {{ product_order_counts }} as product_counts
            on pair_counts.product_key = product_counts.product_key
        inner join {{ product_order_counts }} as other_counts
            on pair_counts.co_product_key = other_counts.product_key
        {% if measure == 'rp3beta' -%}
        inner join weighted_pairs
            on
                pair_counts.product_key = weighted_pairs.product_key
                and pair_counts.co_product_key = weighted_pairs.co_product_key
        {%- endif %}

    )

    select
        product_key,
        other_product_key,
        {{ similarity_measure_score(measure, config['parameters']) }} as similarity
    from pair_inputs

{% endmacro %}
