-- Similarities lie in (0, 1] and never increase with rank.
with

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

ranked as (

    select
        *,
        lag(similarity) over (
            partition by product_id order by recommendation_rank
        ) as previous_similarity

    from recommendations

),

validation_errors as (

    select *
    from ranked
    where
        similarity <= 0
        or similarity > 1 + 1e-12
        or similarity > previous_similarity

)

select * from validation_errors
