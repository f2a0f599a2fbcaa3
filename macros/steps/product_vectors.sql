{#
    One row per product with a non-zero row of C (pair_counts): what the
    second-order cosine needs of its vector. The squared norm is summed
    exactly in a wide integer (C's entries squared overflow bigint on big
    catalogues), then its square root taken once in double precision.
#}
{% macro product_vectors(pair_counts) %}

    select
        product_key,
        count(*) as co_product_count,
        sum(cast(pair_count as {{ type_wide_integer() }})) as pair_count_total,
        sum(cast(pair_count as {{ type_wide_integer() }}) * pair_count) as squared_norm,
        sqrt(cast(sum(cast(pair_count as {{ type_wide_integer() }}) * pair_count) as double))
            as vector_norm
    from {{ pair_counts }}
    group by product_key

{% endmacro %}
