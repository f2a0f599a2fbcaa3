{#
    The tutorial's offline validation, per category: of the products that got
    a recommendation, the share whose best (rank-1) recommendation is in their
    own category, and its lift over chance (the share random recommendations
    would get, given the category's size). Products without any
    recommendation are counted apart, not hidden in the rate.
#}
with

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

category_counts as (

    select
        category,
        sum(case when has_recommendation then 1 else 0 end) as product_count,
        sum(case when is_same_category then 1 else 0 end) as same_category_count,
        sum(case when has_recommendation then 0 else 1 end) as products_without_recommendations,
        -- The same for every product of the category.
        max(chance_same_category_rate) as chance_same_category_rate

    from product_outcomes
    group by category

),

rates as (

    select
        category,
        cast(product_count as bigint) as product_count,
        cast(same_category_count as bigint) as same_category_count,
        -- Null when no product of the category has a recommendation.
        cast(same_category_count as double) / nullif(product_count, 0) as same_category_rate,
        cast(products_without_recommendations as bigint) as products_without_recommendations,
        chance_same_category_rate

    from category_counts

),

final as (

    select
        category,
        product_count,
        same_category_count,
        same_category_rate,
        products_without_recommendations,
        chance_same_category_rate,
        -- Null for a category of one product (chance 0) or without recommendations.
        same_category_rate / nullif(chance_same_category_rate, 0) as same_category_lift

    from rates

)

select * from final
order by category
