with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}

),

final as (

    select
        sales_line_id,
        order_id,
        product_id,
        category,
        rejection_reason

    from sales_lines
    where rejection_reason is not null

)

select * from final
