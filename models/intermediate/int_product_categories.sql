with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}
    where rejection_reason is null

),

category_lines as (

    select
        product_id,
        category,
        count(*) as line_count

    from sales_lines
    group by product_id, category

),

final as (

    select
        product_id,
        category,
        line_count,
        count(*) over (partition by product_id) as product_category_count,
        -- A product takes its most frequent category; ties go to the smallest name.
        row_number() over (
            partition by product_id order by line_count desc, category asc
        ) = 1 as is_primary_category

    from category_lines

)

select * from final
