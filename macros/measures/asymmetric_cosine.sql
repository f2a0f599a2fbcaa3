{#
    Asymmetric cosine: c / (n_a^alpha n_b^(1 - alpha)), with shrinkage
    c / (n_a^alpha n_b^(1 - alpha) + s). alpha 0.5 is the cosine; alpha near 1
    is the conditional probability P(b | a) = c / n_a, which favours popular
    products b. a is the product viewed, b the one recommended. In [0, 1]
    for alpha in [0, 1] (c <= min(n_a, n_b)).
#}
{% macro measure__asymmetric_cosine() %}
    {{- return({
        'order': 'first',
        'parameters': ['asymmetric_alpha', 'similarity_shrinkage'],
        'upper_bound': 1.0,
        'formula': 'c / (n_a^alpha n_b^(1 - alpha) + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__asymmetric_cosine(parameters) %}
    {%- set alpha = parameters['asymmetric_alpha'] | float -%}
    {{- return(
        "cast(pair_order_count as double) / (power(cast(product_order_count as double), "
        ~ alpha ~ ") * power(cast(other_order_count as double), " ~ (1 - alpha) ~ ") + "
        ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
