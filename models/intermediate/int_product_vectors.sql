{#
    Each product's co-occurrence vector is its row of C (the rows of
    int_product_pair_counts with that product_key); this model holds what the
    cosine needs of it. Products that were never bought with another product
    have an all-zero vector and no row here.
#}
with

pair_counts as (

    select * from {{ ref('int_product_pair_counts') }}

),

final as (

    select
        product_key,
        count(*) as co_product_count,
        sum(pair_count) as pair_count_total,
        sum(cast(pair_count as hugeint) * pair_count) as squared_norm,
        sqrt(cast(sum(cast(pair_count as hugeint) * pair_count) as double)) as vector_norm

    from pair_counts
    group by product_key

)

select * from final
