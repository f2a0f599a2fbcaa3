{#
    The validation metric over a set of per-product outcomes (one row per
    product: category, has_recommendation, is_same_category,
    chance_same_category_rate), as one row: micro rate (over all recommended
    products, so big categories weigh more), macro rate (the mean of the
    per-category rates, so every category weighs the same), coverage, the
    rate random recommendations would get (the mean chance over the products
    recommended; with every product recommended, sum over categories of
    n_c (n_c - 1) / (N (N - 1))), the lift over it, and the counts behind them.
    Shared by recommendation_validation_overall and the threshold sweep, so the
    sweep's row for this build is the validation's figures by construction.
    product_outcomes: the name of a CTE or relation with those columns (and the
    group columns, e.g. the sweep's min_pair_count, each summarized apart).
#}
{% macro same_category_totals(product_outcomes, group_columns=[]) %}
    {%- set groups = group_columns | join(', ') ~ (', ' if group_columns else '') -%}
    {%- set group_by = ('group by ' ~ group_columns | join(', ')) if group_columns else '' %}

    with

    category_rates as (

        select
            {{ groups }}category,
            -- Null when no product of the category has a recommendation.
            cast(sum(case when is_same_category then 1 else 0 end) as double)
            / nullif(sum(case when has_recommendation then 1 else 0 end), 0) as same_category_rate
        from {{ product_outcomes }}
        group by {{ groups }}category

    ),

    product_totals as (

        select
            {{ groups }}sum(case when has_recommendation then 1 else 0 end) as product_count,
            sum(case when is_same_category then 1 else 0 end) as same_category_count,
            sum(case when has_recommendation then 0 else 1 end) as products_without_recommendations,
            count(*) as catalogue_product_count,
            avg(case when has_recommendation then chance_same_category_rate end)
                as chance_same_category_rate
        from {{ product_outcomes }}
        {{ group_by }}

    ),

    category_totals as (

        select
            {{ groups }}count(*) as category_count,
            count(same_category_rate) as rated_category_count,
            avg(same_category_rate) as macro_same_category_rate
        from category_rates
        {{ group_by }}

    ),

    rates as (

        select
            {% for column in group_columns %}product_totals.{{ column }},
            {% endfor -%}
            category_totals.category_count,
            category_totals.rated_category_count,
            cast(product_totals.product_count as bigint) as product_count,
            cast(product_totals.same_category_count as bigint) as same_category_count,
            cast(product_totals.products_without_recommendations as bigint)
                as products_without_recommendations,
            cast(product_totals.same_category_count as double)
            / nullif(product_totals.product_count, 0) as micro_same_category_rate,
            category_totals.macro_same_category_rate,
            cast(product_totals.product_count as double)
            / nullif(product_totals.catalogue_product_count, 0) as coverage,
            product_totals.chance_same_category_rate
        from product_totals
        {% if group_columns -%}
        inner join category_totals
            on
            {%- for column in group_columns %}
                {% if not loop.first %}and {% endif -%}
                product_totals.{{ column }} = category_totals.{{ column }}
            {%- endfor %}
        {%- else -%}
        cross join category_totals
        {%- endif %}

    )

    select
        *,
        micro_same_category_rate / nullif(chance_same_category_rate, 0) as same_category_lift
    from rates

{% endmacro %}
