{#
    Picks the top-k of the engine chosen by the `similarity_engine` var; both
    produce the same table (see int_product_neighbours*).
#}
{%- set engine = var('similarity_engine') -%}
{%- if engine not in ['sparse', 'sql'] -%}
    {{ exceptions.raise_compiler_error(
        "var similarity_engine must be 'sparse' or 'sql', got '" ~ engine ~ "'."
    ) }}
{%- endif -%}
with

neighbours as (

    {% if engine == 'sql' -%}
        select * from {{ ref('int_product_neighbours') }}
    {%- else -%}
        select * from {{ ref('int_product_neighbours_sparse') }}
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
        product.category = recommended.category as is_same_category

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
