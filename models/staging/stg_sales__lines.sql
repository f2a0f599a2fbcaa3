{#
    A table, not a view like other staging models: four models and several
    tests read it, and a view would re-read and re-parse the sales file for
    each of them (docs/performance.md). Its hooks quarantine the lines the
    reader could not parse (macros/quarantine_unreadable_sales_lines.sql).
#}
{{ config(
    materialized='table',
    pre_hook="{{ reset_sales_rejects() }}",
    post_hook="{{ quarantine_unreadable_sales_lines() }}",
) }}
{#
    Cleaning rules (docs/robustness.md): surrounding spaces are
    extract noise (' 042' and '042' are one product); blank and the text NULL
    (what SQL clients write for a missing value) are missing. Everything else,
    quotes, commas, unicode, leading zeros, is kept exactly as given.
#}
with

source as (

    select * from {{ sales_source() }}

),

trimmed as (

    select
        {{ sales_line_number() }} as sales_line_id,
        {{ sales_file_name() }} as source_file,
        trim(cast(order_id as varchar)) as order_id,
        trim(cast(product_id as varchar)) as product_id,
        trim(cast(category as varchar)) as category

    from source

),

renamed as (

    select
        sales_line_id,
        source_file,
        case when order_id = '' or lower(order_id) = 'null' then null else order_id end
            as order_id,
        case when product_id = '' or lower(product_id) = 'null' then null else product_id end
            as product_id,
        case when category = '' or lower(category) = 'null' then null else category end
            as category

    from trimmed

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
        end as rejection_reason,
        -- Filled for the lines the reader could not parse (the post-hook adds them).
        cast(null as varchar) as rejection_detail,
        cast(null as varchar) as raw_line

    from renamed

)

select * from final
