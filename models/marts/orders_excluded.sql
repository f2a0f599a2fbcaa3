{#
    The orders max_order_lines leaves out of pair counting, so that the
    exclusion is visible: their lines are still read and used for products and
    categories, they only add no pairs. Empty when max_order_lines is 0.
#}
with

order_sizes as (

    select * from {{ ref('int_order_sizes') }}

),

final as (

    select
        order_id,
        line_count,
        product_count,
        product_pair_count,
        'more than max_order_lines ({{ var("max_order_lines", 0) | int }}) lines'
            as exclusion_reason

    from order_sizes
    where is_excluded_from_pairs

)

select * from final
