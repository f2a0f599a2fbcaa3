{#
    The tutorial's measure: the cosine of the two products' rows of C (their
    co-occurrence vectors), what scikit-learn's cosine_similarity(C) gives:
    two products are similar when they are bought with the same other
    products, whether or not they are bought together. With shrinkage s:
    (C[a] . C[b]) / (|C[a]| |C[b]| + s). Computed by an engine, not a
    formula: int_product_neighbours_sparse (default) or the sql engine
    (macros/steps/second_order_similarities.sql).
#}
{% macro measure__second_order_cosine() %}
    {{- return({
        'order': 'second',
        'parameters': ['similarity_shrinkage'],
        'upper_bound': 1.0,
        'formula': '(C[a] . C[b]) / (|C[a]| |C[b]| + s)',
    }) -}}
{% endmacro %}
