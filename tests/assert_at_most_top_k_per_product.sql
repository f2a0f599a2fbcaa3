-- No product has more than top_k recommendations, and ranks run 1..n without gaps.
with

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

per_product as (

    select
        product_id,
        count(*) as recommendation_count,
        max(recommendation_rank) as highest_rank

    from recommendations
    group by product_id

),

validation_errors as (

    select *
    from per_product
    where
        recommendation_count > {{ var('top_k') }}
        or highest_rank != recommendation_count

)

select * from validation_errors
