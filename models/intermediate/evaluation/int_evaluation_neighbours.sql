{#
    Each measure config's top-k, fitted on the training orders only: one row
    per config, product and rank. The first-order measures (and the
    second-order cosine with the sql engine) are scored here with the same
    macros as the production build; with the sparse engine the second-order
    configs are fitted by int_evaluation_neighbours_sparse. Config 0 is the
    popularity baseline: the training orders' top_k best-sellers, the same
    for every product of the catalogue (but itself).
#}
{%- set configs = evaluation_measure_configs() -%}
{%- set in_sql = [] -%}
{%- for config in configs if config['order'] == 'first' or similarity_engine() == 'sql' -%}
    {%- do in_sql.append(config) -%}
{%- endfor -%}
with

order_product_counts as (

    select * from {{ ref('int_evaluation_training_order_products') }}

),

pair_counts as (

    select * from {{ ref('int_evaluation_training_pair_counts') }}

),

products as (

    select * from {{ ref('int_evaluation_training_products') }}

),

{% if in_sql | selectattr('order', 'equalto', 'second') | list -%}
    vectors as (

        select * from {{ ref('int_evaluation_training_vectors') }}

    ),
{%- else -%}
-- depends_on: {{ ref('int_evaluation_training_vectors') }}
{%- endif %}

{% for config in in_sql -%}
    scores_{{ config['config_id'] }} as (

        {% if config['order'] == 'first' -%}
    {{ first_order_scores(
        config,
        'pair_counts',
        'products',
        '(select count(distinct order_key) from order_product_counts)',
        'order_product_counts',
    ) }}
        {%- else -%}
            select
                product_key,
                other_product_key,
                similarity
            from (
        {{ second_order_similarities(
            'pair_counts', 'vectors', config['parameters']['similarity_shrinkage']
        ) }}
            ) as similarities
        {%- endif %}

    ),

{% endfor -%}
scores as (

    select
        cast(null as integer) as config_id,
        cast(null as integer) as product_key,
        cast(null as integer) as other_product_key,
        cast(null as double) as similarity
    where false
    {% for config in in_sql %}
        union all
        select
            {{ config['config_id'] }} as config_id,
            product_key,
            other_product_key,
            similarity
        from scores_{{ config['config_id'] }}
    {%- endfor %}

),

measure_neighbours as (

    {{ top_k_neighbours('scores', var('top_k'), min_similarity_floor(), ['config_id']) }}

),

training_totals as (

    select count(distinct order_key) as order_total
    from order_product_counts

),

best_sellers as (

    select
        product_key,
        popularity_rank
    from products
    where popularity_rank <= {{ var('top_k') | int + 1 }}

),

popularity_neighbours as (

    select
        0 as config_id,
        catalogue.product_key,
        best_sellers.product_key as recommended_product_key,
        cast(row_number() over (
            partition by catalogue.product_key order by best_sellers.popularity_rank
        ) as integer) as recommendation_rank,
        -- The best-seller's share of training orders.
        cast(products.order_count as double) / training_totals.order_total as similarity

    from {{ ref('int_products') }} as catalogue
    cross join best_sellers
    cross join training_totals
    inner join products on best_sellers.product_key = products.product_key
    where best_sellers.product_key != catalogue.product_key

),

final as (

    select * from measure_neighbours

    union all

    select * from popularity_neighbours
    where recommendation_rank <= {{ var('top_k') | int }}

)

select
    cast(config_id as integer) as config_id,
    product_key,
    recommended_product_key,
    recommendation_rank,
    similarity
from final
