{#
    The validation metric's input, per product: its best (rank-1)
    recommendation, if any, and whether it is in the product's own category.
    Both validation marts aggregate this, so a failing test on one does not
    stop the other from being built and tested.
#}
with

products as (

    select * from {{ ref('int_products') }}

),

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

best_recommendations as (

    select
        product_id,
        recommended_product_id,
        recommended_category,
        similarity,
        is_same_category

    from recommendations
    where recommendation_rank = 1

),

final as (

    select
        products.product_id,
        products.category,
        best_recommendations.recommended_product_id as best_recommended_product_id,
        best_recommendations.recommended_category as best_recommended_category,
        best_recommendations.similarity as best_similarity,
        best_recommendations.product_id is not null as has_recommendation,
        coalesce(best_recommendations.is_same_category, false) as is_same_category

    from products
    left join best_recommendations
        on products.product_id = best_recommendations.product_id

)

select * from final
