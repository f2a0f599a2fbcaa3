{{ config(enabled=similarity_path() in ['sql', 'first_order']) }}
{#
    The top-k in SQL: each product's most similar products, best first, ties
    broken by the recommended product's key (product_id order). Scores come
    from int_product_similarities (second_order_cosine, sql engine) or from
    the first-order measure's formula over the pair counts. The sparse
    engine's int_product_neighbours_sparse produces the same table.
#}
{%- set config = build_measure_config() %}
with

{% if config['order'] == 'second' -%}
    scores as (

        select * from {{ ref('int_product_similarities') }}

    ),
{%- else -%}
order_product_counts as (

    {{ counted_order_products(ref('int_order_product_counts'), ref('int_order_sizes')) }}

),

scores as (

    {{ first_order_scores(
        config,
        ref('int_product_pair_counts'),
        ref('int_product_order_counts'),
        '(select count(distinct order_key) from order_product_counts)',
        'order_product_counts',
    ) }}

),
{%- endif %}

final as (

    {{ top_k_neighbours('scores', var('top_k'), min_similarity_floor()) }}

)

select * from final
