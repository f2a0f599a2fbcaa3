with

source as (

    select * from {{ sales_source() }}

),

renamed as (

    select
        row_number() over () as sales_line_id,
        -- Surrounding spaces are extract noise: ' 042' and '042' are one product.
        nullif(trim(cast(order_id as varchar)), '') as order_id,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        nullif(trim(cast(category as varchar)), '') as category

    from source

),

final as (

    select
        *,
        case
            when order_id is null then 'missing order_id'
            when product_id is null then 'missing product_id'
            when category is null then 'missing category'
            -- ';' separates the exported lists: such an id would split in two.
            when contains(product_id, ';')
                then 'product_id contains ";", the separator of exported lists'
        end as rejection_reason

    from renamed

)

select * from final
