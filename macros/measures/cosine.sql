{#
    First-order cosine: the cosine of the two products' order columns of X
    (binary), c / sqrt(n_a n_b), with shrinkage c / (sqrt(n_a n_b) + s).
#}
{% macro measure__cosine() %}
    {{- return({
        'order': 'first',
        'parameters': ['similarity_shrinkage'],
        'upper_bound': 1.0,
        'formula': 'c / (sqrt(n_a n_b) + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__cosine(parameters) %}
    {{- return(
        "cast(pair_order_count as double) / (sqrt(cast(product_order_count as double)"
        ~ " * other_order_count) + " ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
