{#
    The result: each product's top-k from the models similarity_path() picks
    (int_product_neighbours_sparse for the default second_order_cosine, else
    int_product_neighbours); every path produces the same table.
#}
{%- set path = similarity_path() -%}
with

neighbours as (

    {% if path == 'sparse' -%}
        select * from {{ ref('int_product_neighbours_sparse') }}
    {%- else -%}
        select * from {{ ref('int_product_neighbours') }}
    {%- endif %}

),

products as (

    select * from {{ ref('int_products') }}

),

pair_counts as (

    select * from {{ ref('int_product_pair_counts') }}

),

final as (

    select
        product.product_id,
        neighbours.recommendation_rank,
        recommended.product_id as recommended_product_id,
        neighbours.similarity,
        -- Second-order cosine: two products can be similar without ever
        -- being bought together (pair_count 0).
        coalesce(pair_counts.pair_count, 0) as pair_count,
        product.category as product_category,
        recommended.category as recommended_category,
        product.category = recommended.category as is_same_category,
        '{{ var("similarity_measure") }}' as similarity_measure

    from neighbours
    inner join products as product
        on neighbours.product_key = product.product_key
    inner join products as recommended
        on neighbours.recommended_product_key = recommended.product_key
    left join pair_counts
        on
            neighbours.product_key = pair_counts.product_key
            and neighbours.recommended_product_key = pair_counts.co_product_key

)

select * from final
order by product_id, recommendation_rank
