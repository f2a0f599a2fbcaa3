{{ config(enabled=var('similarity_engine') == 'sql') }}
{#
    The "sql" engine's top-k: each product's most similar products, best
    first. Ties are broken by the recommended product's key, which follows
    product_id order, so the ranking is deterministic.
#}
with

similarities as (

    select * from {{ ref('int_product_similarities') }}
    where similarity > {{ min_similarity_floor() }}

),

final as (

    select
        product_key,
        other_product_key as recommended_product_key,
        cast(row_number() over (
            partition by product_key
            order by similarity desc, other_product_key asc
        ) as integer) as recommendation_rank,
        similarity

    from similarities
    qualify recommendation_rank <= {{ var('top_k') }}

)

select * from final
