{#
    The validation metric over the whole catalogue: micro (over all
    products) and macro (the mean of the per-category rates) same-category
    rates, the rate chance would give and the lift over it; the arithmetic is
    in macros/same_category_totals.sql. Computed from the per-product
    outcomes, not from recommendation_validation, so a failing per-category
    test does not skip this model and its own tests.
#}
{%- set measure = build_measure_config() -%}
with

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

totals as (

    {{ same_category_totals('product_outcomes') }}

),

final as (

    select
        '{{ measure["measure"] }}' as similarity_measure,
        '{{ measure["label"] }}' as similarity_parameters,
        cast({{ var('min_pair_count') }} as integer) as min_pair_count,
        category_count,
        rated_category_count,
        product_count,
        same_category_count,
        products_without_recommendations,
        micro_same_category_rate,
        macro_same_category_rate,
        coverage,
        chance_same_category_rate,
        same_category_lift,
        -- The thresholds this build was tested against, so readers (the
        -- report) need not guess the --vars used.
        cast({{ var('min_same_category_lift') }} as double) as min_same_category_lift,
        cast({{ var('min_same_category_rate') }} as double) as min_same_category_rate,
        cast({{ var('min_category_rate') }} as double) as min_category_rate,
        cast({{ var('min_category_products') }} as integer) as min_category_products
    from totals

)

select * from final
