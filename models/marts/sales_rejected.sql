with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}

),

final as (

    select
        sales_line_id,
        source_file,
        order_id,
        product_id,
        category,
        rejection_reason,
        rejection_detail,
        raw_line

    from sales_lines
    where rejection_reason is not null

)

select * from final
