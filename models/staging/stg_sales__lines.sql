{#
    A table, not a view like other staging models: four models and several
    tests read it, and a view would re-read and re-parse the sales file for
    each of them (docs/performance.md).
#}
{{ config(materialized='table') }}
{#
    Cleaning rules (docs/robustness.md): surrounding spaces are
    extract noise (' 042' and '042' are one product); blank and the text NULL
    (what SQL clients write for a missing value) are missing. Everything else,
    quotes, commas, unicode, leading zeros, is kept exactly as given.
#}
{%- set source_relation = sales_source() %}
with

source as (

    select * from {{ source_relation }}

),

trimmed as (

    select
        {{ sales_line_number() }} as sales_line_id,
        trim(cast(order_id as varchar)) as order_id,
        trim(cast(product_id as varchar)) as product_id,
        trim(cast(category as varchar)) as category,
        -- Optional: when the sales have it, the hold-out evaluation holds out
        -- the latest orders; unreadable dates are null.
        {{ optional_sales_timestamp(source_relation, 'order_date') }} as order_date

    from source

),

renamed as (

    select
        sales_line_id,
        case when order_id = '' or lower(order_id) = 'null' then null else order_id end
            as order_id,
        case when product_id = '' or lower(product_id) = 'null' then null else product_id end
            as product_id,
        case when category = '' or lower(category) = 'null' then null else category end
            as category,
        order_date

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
        end as rejection_reason

    from renamed

)

select * from final
