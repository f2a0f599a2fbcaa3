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
{%- set source_relation = sales_source() %}
with

source as (

    select * from {{ source_relation }}

),

trimmed as (

    select
        {{ sales_line_number() }} as sales_line_id,
        {{ sales_file_name() }} as source_file,
        trim({{ sales_column_text('order_id') }}) as order_id,
        trim({{ sales_column_text('product_id') }}) as product_id,
        trim({{ sales_column_text('category') }}) as category,
        {{ sales_float_column_problem() }} as float_problem,
        -- Lines a reader keeps although it could not parse them (Spark's), else null.
        {{ sales_reader_problem() }} as reader_problem,
        {{ sales_reader_raw_line() }} as reader_raw_line,
        -- Optional: when the sales have it, the hold-out evaluation holds out
        -- the latest orders; unreadable dates are null.
        {{ optional_sales_timestamp(source_relation, 'order_date') }} as order_date

    from source

),

renamed as (

    select
        sales_line_id,
        source_file,
        case
            when reader_problem is not null or order_id = '' or lower(order_id) = 'null' then null
            else order_id
        end as order_id,
        case
            when reader_problem is not null or product_id = '' or lower(product_id) = 'null'
                then null
            else product_id
        end as product_id,
        case
            when reader_problem is not null or category = '' or lower(category) = 'null' then null
            else category
        end as category,
        float_problem,
        reader_problem,
        reader_raw_line,
        order_date

    from trimmed

),

final as (

    select
        sales_line_id,
        source_file,
        order_id,
        product_id,
        category,
        case
            when reader_problem is not null then reader_problem
            when float_problem is not null then float_problem
            when order_id is null then 'missing order_id'
            when product_id is null then 'missing product_id'
            when category is null then 'missing category'
            -- ';' separates the exported lists: such an id would split in two.
            when contains(product_id, ';')
                then 'product_id contains ";", the separator of exported lists'
            -- NUL cannot be stored in PostgreSQL text; the others garble what shows ids.
            -- One scan of the three (~1 s at 5M lines), then which one, on those lines only.
            when {{ has_control_character('order_id || product_id || category') }}
                then case
                    when {{ has_control_character('order_id') }}
                        then 'order_id contains a control character'
                    when {{ has_control_character('product_id') }}
                        then 'product_id contains a control character'
                    else 'category contains a control character'
                end
        end as rejection_reason,
        -- Filled for the lines the reader could not parse (DuckDB: the post-hook adds them).
        case
            when reader_problem is not null
                then
                    'line ' || cast(sales_line_id + 1 as {{ dbt.type_string() }})
                    || ' of the file (the header is line 1): the CSV reader could not parse it'
        end as rejection_detail,
        reader_raw_line as raw_line,
        order_date

    from renamed

)

select * from final
