{#
    The validation metric over a set of per-product outcomes (one row per
    product: category, has_recommendation, is_same_category), as one row:
    micro rate (over all recommended products, so big categories weigh more),
    macro rate (the mean of the per-category rates, so every category weighs
    the same), coverage, and the counts behind them. Shared by
    recommendation_validation_overall and recommendation_threshold_sweep, so
    the sweep's row for this build is the validation's figures by construction.
    product_outcomes: the name of a CTE or relation with those columns.
#}
{% macro same_category_totals(product_outcomes) %}

    with

    category_rates as (

        select
            category,
            -- Null when no product of the category has a recommendation.
            cast(count(*) filter (where is_same_category) as double)
            / nullif(count(*) filter (where has_recommendation), 0) as same_category_rate
        from {{ product_outcomes }}
        group by category

    ),

    product_totals as (

        select
            count(*) filter (where has_recommendation) as product_count,
            count(*) filter (where is_same_category) as same_category_count,
            count(*) filter (where not has_recommendation) as products_without_recommendations,
            count(*) as catalogue_product_count
        from {{ product_outcomes }}

    ),

    category_totals as (

        select
            count(*) as category_count,
            count(same_category_rate) as rated_category_count,
            avg(same_category_rate) as macro_same_category_rate
        from category_rates

    )

    select
        category_totals.category_count,
        category_totals.rated_category_count,
        product_totals.product_count,
        product_totals.same_category_count,
        product_totals.products_without_recommendations,
        cast(product_totals.same_category_count as double)
        / nullif(product_totals.product_count, 0) as micro_same_category_rate,
        category_totals.macro_same_category_rate,
        cast(product_totals.product_count as double)
        / nullif(product_totals.catalogue_product_count, 0) as coverage
    from product_totals
    cross join category_totals

{% endmacro %}
