{#
    Each product's co-occurrence vector is its row of C (the rows of
    int_product_pair_counts with that product_key); this model holds what the
    second-order cosine needs of it (macros/steps/product_vectors.sql).
    Products never bought with another product have no row.
#}
with

final as (

    {{ product_vectors(ref('int_product_pair_counts')) }}

)

select * from final
