{#
    The validation metric's input, per product: its best (rank-1)
    recommendation, if any, whether it is in the product's own category, and
    how often a recommendation drawn at random from the other products would
    be (the chance the lift compares against). Both validation marts
    aggregate this, so a failing test on one does not stop the other from
    being built and tested.
#}
with

products as (

    select * from {{ ref('int_products') }}

),

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

category_chances as (

    {{ category_chance_rates('products') }}

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
        coalesce(best_recommendations.is_same_category, false) as is_same_category,
        category_chances.chance_same_category_rate

    from products
    inner join category_chances on products.category = category_chances.category
    left join best_recommendations
        on products.product_id = best_recommendations.product_id

)

select * from final
