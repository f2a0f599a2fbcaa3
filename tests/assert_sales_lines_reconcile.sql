-- Nothing is lost: every line read is either used or quarantined in sales_rejected.
with

lines_read as (

    select count(*) as line_count from {{ ref('stg_sales__lines') }}

),

lines_used as (

    select sum(quantity) as line_count from {{ ref('int_order_product_counts') }}

),

lines_rejected as (

    select count(*) as line_count from {{ ref('sales_rejected') }}

),

validation_errors as (

    select
        lines_read.line_count as lines_read,
        coalesce(lines_used.line_count, 0) as lines_used,
        lines_rejected.line_count as lines_rejected

    from lines_read, lines_used, lines_rejected
    where lines_read.line_count != coalesce(lines_used.line_count, 0) + lines_rejected.line_count

)

select * from validation_errors
