{#
    The validation metric over the whole catalogue, two ways: micro (over all
    products, so big categories weigh more) and macro (the mean of the
    per-category rates, so every category weighs the same); the arithmetic is
    in macros/same_category_totals.sql. Computed from the per-product
    outcomes, not from recommendation_validation, so a failing per-category
    test does not skip this model and its own test.
#}
with

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

totals as (

    {{ same_category_totals('product_outcomes') }}

),

final as (

    select
        cast({{ var('min_pair_count') }} as integer) as min_pair_count,
        category_count,
        rated_category_count,
        product_count,
        same_category_count,
        products_without_recommendations,
        micro_same_category_rate,
        macro_same_category_rate,
        coverage,
        -- The thresholds this build was tested against, so readers (the
        -- report) need not guess the --vars used.
        cast({{ var('min_same_category_rate') }} as double) as min_same_category_rate,
        cast({{ var('min_category_rate') }} as double) as min_category_rate,
        cast({{ var('min_category_products') }} as integer) as min_category_products
    from totals

)

select * from final
