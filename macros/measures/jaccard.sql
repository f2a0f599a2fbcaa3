{#
    Jaccard: orders with both over orders with either, c / (n_a + n_b - c),
    with shrinkage c / (n_a + n_b - c + s).
#}
{% macro measure__jaccard() %}
    {{- return({
        'order': 'first',
        'parameters': ['similarity_shrinkage'],
        'upper_bound': 1.0,
        'formula': 'c / (n_a + n_b - c + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__jaccard(parameters) %}
    {{- return(
        "cast(pair_order_count as double) / (cast(product_order_count as double)"
        ~ " + other_order_count - pair_order_count + " ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
