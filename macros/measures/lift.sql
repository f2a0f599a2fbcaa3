{#
    Lift: how much more often the two are bought together than if they were
    independent, c / (n_a n_b / N) (1 = independent), with shrinkage
    c / (n_a n_b / N + s). Favours rare products; unbounded.
#}
{% macro measure__lift() %}
    {{- return({
        'order': 'first',
        'parameters': ['similarity_shrinkage'],
        'upper_bound': none,
        'formula': 'c / (n_a n_b / N + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__lift(parameters) %}
    {{- return(
        "cast(pair_order_count as double) / (cast(product_order_count as double)"
        ~ " * other_order_count / order_total + " ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
