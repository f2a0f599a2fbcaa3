{#  C of the training orders: the production build's macro on the training X. #}
with

final as (

    {{ pair_counts(ref('int_evaluation_training_order_products'), var('min_pair_count')) }}

)

select * from final
