-- At least one sales line is usable. When every line is rejected the build
-- fails here instead of finishing with empty recommendations that look like a
-- success. It reads sales_rejected so that, in `dbt build`, the quarantine is
-- built (and shows every line's reason) before this test stops the rest.
with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}

),

sales_rejected as (

    select * from {{ ref('sales_rejected') }}

),

line_counts as (

    select
        (select count(*) from sales_lines) as lines_read,
        (select count(*) from sales_rejected) as lines_rejected

),

validation_errors as (

    select
        lines_read,
        lines_rejected,
        'no usable sales line: every line is in sales_rejected with its reason' as problem

    from line_counts
    where lines_read = lines_rejected

)

select * from validation_errors
