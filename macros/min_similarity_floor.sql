{#
    The similarity a recommendation must exceed: the `min_similarity` var, but
    never below 0 (a zero cosine means "nothing in common": never recommended).
#}
{% macro min_similarity_floor() %}
    {{- return([var('min_similarity') | float, 0.0] | max) -}}
{% endmacro %}
