{{ config(enabled=similarity_path() in ['sql', 'first_order']) }}
{#
    Every product's rank-1 recommendation at each threshold the sweep tries,
    scored and ranked with the production build's macros on C with the pairs
    below the threshold removed (first-order measures keep their n_a: pruning
    removes pairs, not orders). With the sparse engine,
    int_threshold_sweep_neighbours_sparse does the same.
#}
{%- set config = build_measure_config() %}
with

pair_counts as (

    select * from {{ ref('int_threshold_sweep_pair_counts') }}

),

{% if config['order'] == 'second' -%}
    vectors as (

        select * from {{ ref('int_threshold_sweep_vectors') }}

    ),
{%- else -%}
-- depends_on: {{ ref('int_threshold_sweep_vectors') }}
order_product_counts as (

    {{ counted_order_products(ref('int_order_product_counts'), ref('int_order_sizes')) }}

),

product_order_counts as (

    select * from {{ ref('int_product_order_counts') }}

),
{%- endif %}

{% for threshold in sweep_thresholds() -%}
    pairs_{{ threshold }} as (

        select * from pair_counts
        where pair_count >= {{ threshold }}

    ),

    scores_{{ threshold }} as (

        {% if config['order'] == 'second' -%}
            select
                product_key,
                other_product_key,
                similarity
            from (
        {{ second_order_similarities(
            'pairs_' ~ threshold,
            '(select * from vectors where min_pair_count = ' ~ threshold ~ ')',
            config['parameters']['similarity_shrinkage'],
        ) }}
            ) as similarities
        {%- else -%}
    {{ first_order_scores(
        config,
        'pairs_' ~ threshold,
        'product_order_counts',
        '(select count(distinct order_key) from order_product_counts)',
        'order_product_counts',
    ) }}
    {%- endif %}

    ),

{% endfor -%}
scores as (

    {% for threshold in sweep_thresholds() -%}
        {% if not loop.first %}union all

        {% endif -%}
        select
            cast({{ threshold }} as integer) as min_pair_count,
            product_key,
            other_product_key,
            similarity
        from scores_{{ threshold }}
    {% endfor %}

),

final as (

    {{ top_k_neighbours('scores', 1, min_similarity_floor(), ['min_pair_count']) }}

)

select * from final
