{#
    One row per category of a product catalogue (a relation with one row per
    product and its category): how often a product drawn at random from the
    other products falls in a given product's category, (n_c - 1) / (N - 1).
    What the same-category lift divides by (validation and evaluation).
#}
{% macro category_chance_rates(products) %}

    select
        category,
        count(*) as category_product_count,
        cast(count(*) - 1 as double)
        / nullif(sum(count(*)) over () - 1, 0) as chance_same_category_rate
    from {{ products }}
    group by category

{% endmacro %}
