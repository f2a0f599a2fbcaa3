-- At least one sales line is usable. When every line is rejected the build
-- fails here (see sales_rejected for the reasons) instead of finishing with
-- empty recommendations that look like a success.
with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}

),

line_counts as (

    select
        count(*) as lines_read,
        count(*) filter (where rejection_reason is null) as lines_accepted

    from sales_lines

),

validation_errors as (

    select
        lines_read,
        lines_accepted,
        'no usable sales line: every line is in sales_rejected with its reason' as problem

    from line_counts
    where lines_accepted = 0

)

select * from validation_errors
