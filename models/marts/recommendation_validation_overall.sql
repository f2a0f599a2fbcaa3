{#
    The validation metric over the whole catalogue, two ways: micro (over all
    products, so big categories weigh more) and macro (the mean of the
    per-category rates, so every category weighs the same). Computed from the
    per-product outcomes, not from recommendation_validation, so a failing
    per-category test does not skip this model and its own test.
#}
with

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

category_rates as (

    select
        category,
        -- Null when no product of the category has a recommendation.
        cast(count(*) filter (where is_same_category) as double)
        / nullif(count(*) filter (where has_recommendation), 0) as same_category_rate

    from product_outcomes
    group by category

),

product_totals as (

    select
        count(*) filter (where has_recommendation) as product_count,
        count(*) filter (where is_same_category) as same_category_count,
        count(*) filter (where not has_recommendation) as products_without_recommendations,
        count(*) as catalogue_product_count

    from product_outcomes

),

category_totals as (

    select
        count(*) as category_count,
        count(same_category_rate) as rated_category_count,
        avg(same_category_rate) as macro_same_category_rate

    from category_rates

),

final as (

    select
        cast({{ var('min_pair_count') }} as integer) as min_pair_count,
        category_totals.category_count,
        category_totals.rated_category_count,
        product_totals.product_count,
        product_totals.same_category_count,
        product_totals.products_without_recommendations,
        cast(product_totals.same_category_count as double)
        / nullif(product_totals.product_count, 0) as micro_same_category_rate,
        category_totals.macro_same_category_rate,
        cast(product_totals.product_count as double)
        / nullif(product_totals.catalogue_product_count, 0) as coverage,
        -- The thresholds this build was tested against, so readers (the
        -- report) need not guess the --vars used.
        cast({{ var('min_same_category_rate') }} as double) as min_same_category_rate,
        cast({{ var('min_category_rate') }} as double) as min_category_rate,
        cast({{ var('min_category_products') }} as integer) as min_category_products

    from product_totals
    cross join category_totals

)

select * from final
