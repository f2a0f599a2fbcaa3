{#
    RP3beta (Paudel et al. 2016; as implemented by Dacrema et al. 2019): the
    probability of a random walk product a -> order -> product b, each step
    chosen uniformly (raised to rp3_alpha), with b's popularity discounted by
    n_b^rp3_beta:
        sum over orders o holding a and b of |o|^-alpha, / (n_a^alpha n_b^beta + s),
    |o| the number of different products in o. Unbounded for small alpha.
#}
{% macro measure__rp3beta() %}
    {{- return({
        'order': 'first',
        'parameters': ['rp3_alpha', 'rp3_beta', 'similarity_shrinkage'],
        'upper_bound': none,
        'formula': '(sum over orders o with a and b of |o|^-alpha) / (n_a^alpha n_b^beta + s)',
    }) -}}
{% endmacro %}

{% macro measure_score__rp3beta(parameters) %}
    {{- return(
        "weighted_pair_count / (power(cast(product_order_count as double), "
        ~ parameters['rp3_alpha'] | float ~ ") * power(cast(other_order_count as double), "
        ~ parameters['rp3_beta'] | float ~ ") + " ~ parameters['similarity_shrinkage'] ~ ")"
    ) -}}
{% endmacro %}
