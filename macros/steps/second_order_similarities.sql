{#
    The sql engine's second-order cosine: for every pair of products whose
    rows of C (pair_counts) share a co-product, in both directions,
        similarity = (C[a] . C[b]) / (|C[a]| |C[b]| + shrinkage),
    the value scikit-learn's cosine_similarity(C) gives when shrinkage is 0.
    Pairs sharing no co-product score 0 and are not returned. The dot product
    is summed in integers and divided once, exactly as the sparse engine
    (lib/cosine_topk.py) divides it, so both give bit-identical scores.
    vectors: product_vectors(pair_counts).
#}
{% macro second_order_similarities(pair_counts, vectors, shrinkage) %}

    with

    half_dot_products as (

        select
            left_side.product_key,
            right_side.product_key as other_product_key,
            sum(cast(left_side.pair_count as {{ type_wide_integer() }}) * right_side.pair_count)
                as dot_product

        from {{ pair_counts }} as left_side
        inner join {{ pair_counts }} as right_side
            on
                left_side.co_product_key = right_side.co_product_key
                and left_side.product_key < right_side.product_key
        group by left_side.product_key, right_side.product_key

    ),

    half_similarities as (

        select
            half_dot_products.product_key,
            half_dot_products.other_product_key,
            half_dot_products.dot_product,
            cast(half_dot_products.dot_product as double)
            / (left_vector.vector_norm * right_vector.vector_norm + {{ shrinkage | float }})
                as similarity

        from half_dot_products
        inner join {{ vectors }} as left_vector
            on half_dot_products.product_key = left_vector.product_key
        inner join {{ vectors }} as right_vector
            on half_dot_products.other_product_key = right_vector.product_key

    )

    select
        product_key,
        other_product_key,
        dot_product,
        similarity
    from half_similarities

    union all

    select
        other_product_key as product_key,
        product_key as other_product_key,
        dot_product,
        similarity
    from half_similarities

{% endmacro %}
