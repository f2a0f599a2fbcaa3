with

product_categories as (

    select * from {{ ref('int_product_categories') }}

),

products as (

    select
        product_id,
        max(case when is_primary_category then category end) as category,
        max(product_category_count) as category_count,
        sum(line_count) as line_count

    from product_categories
    group by product_id

),

final as (

    select
        -- Dense integer keys in product_id order: the heavy steps join on
        -- integers, and ordering by key is ordering by product_id.
        cast(row_number() over (order by product_id) - 1 as integer) as product_key,
        product_id,
        category,
        category_count,
        line_count

    from products

)

select * from final
