{{ config(enabled=var('similarity_engine') == 'sql') }}
{#
    The "sql" engine's second-order cosine: for every pair of products whose
    co-occurrence vectors share a co-product,
    similarity = (C[a] . C[b]) / (|C[a]| * |C[b]|), the value scikit-learn's
    cosine_similarity(C) gives. Pairs with no shared co-product have cosine 0
    and are not stored. The dot product is summed in integers and divided
    once, so both engines produce bit-identical similarities.
#}
with

pair_counts as (

    select * from {{ ref('int_product_pair_counts') }}

),

vectors as (

    select * from {{ ref('int_product_vectors') }}

),

half_dot_products as (

    select
        left_side.product_key,
        right_side.product_key as other_product_key,
        sum(left_side.pair_count * right_side.pair_count) as dot_product

    from pair_counts as left_side
    inner join pair_counts as right_side
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
        / (left_vector.vector_norm * right_vector.vector_norm) as similarity

    from half_dot_products
    inner join vectors as left_vector
        on half_dot_products.product_key = left_vector.product_key
    inner join vectors as right_vector
        on half_dot_products.other_product_key = right_vector.product_key

),

final as (

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

)

select * from final
