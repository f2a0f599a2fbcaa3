{{ config(enabled=similarity_path() == 'sql') }}
{#
    The "sql" engine's second-order cosine, every pair of products whose
    co-occurrence vectors share a co-product (macros/steps/second_order_similarities.sql).
    Only built for second_order_cosine with similarity_engine: sql.
#}
with

final as (

    {{ second_order_similarities(
        ref('int_product_pair_counts'),
        ref('int_product_vectors'),
        build_measure_config()['parameters']['similarity_shrinkage'],
    ) }}

)

select * from final
