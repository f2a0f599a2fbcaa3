{#
    The similarity measures, in one place. Each measure is a file in this
    folder defining `measure__<name>()`, its description (what
    validate_vars, the bounds test, the docs and the models read), and, for
    the first-order measures, `measure_score__<name>(parameters)`, its score
    as a SQL expression over the columns of macros/steps/first_order_scores.sql:

        pair_order_count     c    orders containing both products
        product_order_count  n_a  orders containing the product (the one viewed)
        other_order_count    n_b  orders containing the recommended product
        order_total          N    orders counted
        weighted_pair_count       sum over orders containing both of 1 / size^rp3_alpha
        pair_count                the tutorial's C[a, b] (sum of n_a * n_b)

    A measure's description:
        order         'second' (a cosine of rows of C, heavy: an engine) or
                      'first' (a formula of the counts above: a join)
        parameters    the vars it reads (every measure reads similarity_shrinkage)
        upper_bound   the largest score it can give (none: unbounded); scores
                      are always > 0
        formula       how the README writes it
#}
{% macro similarity_measure_names() %}
    {{- return([
        'second_order_cosine',
        'co_occurrence',
        'cosine',
        'jaccard',
        'lift',
        'asymmetric_cosine',
        'rp3beta',
    ]) -}}
{% endmacro %}


{% macro similarity_measure(name) %}
    {%- if name not in similarity_measure_names() -%}
        {{ exceptions.raise_compiler_error(
            "Unknown similarity measure '" ~ name ~ "'; the measures are: "
            ~ similarity_measure_names() | join(', ') ~ " (macros/measures/)."
        ) }}
    {%- endif -%}
    {{- return(context['measure__' ~ name]()) -}}
{% endmacro %}


{#
    The vars measures read, with their ranges (validate_vars checks them):
    name -> [minimum, maximum or none].
#}
{% macro similarity_measure_parameters() %}
    {{- return({
        'similarity_shrinkage': [0, none],
        'asymmetric_alpha': [0, 1],
        'rp3_alpha': [0, 2],
        'rp3_beta': [0, 2],
    }) -}}
{% endmacro %}


{#  The score of a first-order measure, as a SQL expression (see the columns above). #}
{% macro similarity_measure_score(name, parameters) %}
    {%- if similarity_measure(name)['order'] != 'first' -%}
        {{ exceptions.raise_compiler_error(
            "Measure '" ~ name ~ "' is not a first-order measure: it has no score formula."
        ) }}
    {%- endif -%}
    {{- return(context['measure_score__' ~ name](parameters)) -}}
{% endmacro %}
