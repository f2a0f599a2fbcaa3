with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}
    where rejection_reason is null

),

products as (

    select * from {{ ref('int_products') }}

),

order_products as (

    select
        order_id,
        product_id,
        count(*) as quantity

    from sales_lines
    group by order_id, product_id

),

final as (

    select
        cast(dense_rank() over (order by order_products.order_id) as integer) as order_key,
        products.product_key,
        order_products.order_id,
        order_products.product_id,
        order_products.quantity

    from order_products
    inner join products on order_products.product_id = products.product_id

)

select * from final
