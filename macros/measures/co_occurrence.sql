{#
    The raw count: how many orders hold both products ("most often bought
    with"). Favours best-sellers; a baseline. Shrinkage divides every score
    by the same 1 + s and so changes nothing in the ranking.
#}
{% macro measure__co_occurrence() %}
    {{- return({
        'order': 'first',
        'parameters': ['similarity_shrinkage'],
        'upper_bound': none,
        'formula': 'c / (1 + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__co_occurrence(parameters) %}
    {{- return(
        "cast(pair_order_count as double) / (1 + " ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
