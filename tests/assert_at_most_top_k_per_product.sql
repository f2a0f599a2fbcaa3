-- No product has more than top_k recommendations, and its ranks are exactly
-- 1..n: each once (no rank twice), none missing, starting at 1.
with

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

per_product as (

    select
        product_id,
        count(*) as recommendation_count,
        count(distinct recommendation_rank) as distinct_rank_count,
        min(recommendation_rank) as lowest_rank,
        max(recommendation_rank) as highest_rank

    from recommendations
    group by product_id

),

validation_errors as (

    select *
    from per_product
    where
        recommendation_count > {{ var('top_k') }}
        or distinct_rank_count != recommendation_count
        or lowest_rank != 1
        or highest_rank != recommendation_count

)

select * from validation_errors
