{#
    Per product of the training orders: orders containing it (n_a of the
    first-order measures, and the popularity baseline's ranking) and whether
    it is a best-seller, one of the evaluation_head_share most bought, whose
    hits do not count as long-tail hits.
#}
with

order_counts as (

    {{ product_order_counts(ref('int_evaluation_training_order_products')) }}

),

ranked as (

    select
        *,
        row_number() over (order by order_count desc, product_key asc) as popularity_rank,
        count(*) over () as product_total
    from order_counts

),

final as (

    select
        product_key,
        order_count,
        line_count,
        cast(popularity_rank as integer) as popularity_rank,
        popularity_rank
        <= greatest(1, floor({{ var('evaluation_head_share') | float }} * product_total))
            as is_best_seller
    from ranked

)

select * from final
