{#  The norms of the training C's rows (the second-order cosine's), as the build computes them. #}
with

final as (

    {{ product_vectors(ref('int_evaluation_training_pair_counts')) }}

)

select * from final
