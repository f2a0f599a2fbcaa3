{#
    The tutorial's offline validation, per category: of the products that got
    a recommendation, the share whose best (rank-1) recommendation is in their
    own category. Products without any recommendation are counted apart, not
    hidden in the rate.
#}
with

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

category_counts as (

    select
        category,
        count(*) filter (where has_recommendation) as product_count,
        count(*) filter (where is_same_category) as same_category_count,
        count(*) filter (where not has_recommendation) as products_without_recommendations

    from product_outcomes
    group by category

),

final as (

    select
        category,
        product_count,
        same_category_count,
        -- Null when no product of the category has a recommendation.
        cast(same_category_count as double) / nullif(product_count, 0) as same_category_rate,
        products_without_recommendations

    from category_counts

)

select * from final
order by category
