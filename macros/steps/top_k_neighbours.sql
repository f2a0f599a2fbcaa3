{#
    Each product's top_k best-scoring other products, best first: one row per
    (group columns,) product_key and recommendation_rank. Only scores above
    floor are kept; ties go to the smaller recommended key, which follows
    product_id order, so every run ranks the same way.
    scores: a relation or CTE with product_key, other_product_key, similarity
    (and the group columns, e.g. the evaluation's config_id, each ranked apart).
#}
{% macro top_k_neighbours(scores, top_k, floor, group_columns=[]) %}
    {%- set groups = group_columns | join(', ') ~ (', ' if group_columns else '') %}

    select
        {{ groups }}product_key,
        recommended_product_key,
        recommendation_rank,
        similarity
    from (
        select
            {{ groups }}product_key,
            other_product_key as recommended_product_key,
            cast(row_number() over (
                partition by {{ groups }}product_key
                order by similarity desc, other_product_key asc
            ) as integer) as recommendation_rank,
            similarity
        from {{ scores }}
        where similarity > {{ floor | float }}
    ) as ranked
    where recommendation_rank <= {{ top_k | int }}

{% endmacro %}
