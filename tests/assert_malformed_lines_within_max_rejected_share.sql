{#
    The file is trusted only when few of its lines are malformed (the reader
    could not parse them: wrong number of fields, a quote left open, bytes
    that are not UTF-8): at most max_rejected_share of its lines. A malformed
    line counts as the lines it spans: a quote left open runs on over the
    next lines. When DuckDB cut such a line (it keeps 10,000 characters of
    it), how much of the file it swallowed is unknown, and the file is not
    trusted at all. Lines rejected for what they say (a missing category...)
    are data, each with its reason, and do not count here.

    It fails with a message (raised while the test runs, right after staging)
    saying how many lines, the first of them and where the rest are; the
    rows it returns are the same figures. It reads staging alone, so in
    `dbt build` nothing downstream is built from a file it refuses (and
    sales_rejected neither: the lines are in stg_sales__lines).
#}
{%- set max_share = var('max_rejected_share') | float -%}
{%- set newline = "chr(10)" -%}
{%- set check_sql -%}
with

sales_lines as (

    select * from {{ ref('stg_sales__lines') }}

),

malformed as (

    select
        sales_line_id,
        rejection_reason,
        raw_line,
        greatest(
            1,
            length(raw_line) - length(replace(raw_line, {{ newline }}, ''))
            + case when raw_line like '%' || {{ newline }} then 0 else 1 end
        ) as lines_spanned,
        coalesce(
            rejection_reason = 'malformed line: unterminated quote'
            and length(raw_line) >= 10000
            and contains(raw_line, {{ newline }}),
            false
        ) as is_cut_open_quote
    from sales_lines
    where rejection_reason like 'malformed line:%'

),

totals as (

    select
        (select count(*) from sales_lines) + coalesce(sum(lines_spanned - 1), 0) as line_count,
        coalesce(sum(lines_spanned), 0) as malformed_line_count,
        count(*) as malformed_record_count,
        coalesce(bool_or(is_cut_open_quote), false) as has_cut_open_quote
    from malformed

),

validation_errors as (

    select
        line_count,
        malformed_line_count,
        malformed_record_count,
        has_cut_open_quote,
        cast(malformed_line_count as double) / line_count as malformed_share
    from totals
    where malformed_line_count > {{ max_share }} * line_count or has_cut_open_quote

)

select * from validation_errors
{%- endset -%}
{#- Linters compile tests too (sqlfluff's dbt templater), without staging: then skip. -#}
{%- if execute and load_relation(ref('stg_sales__lines')) is not none -%}
    {%- set failing = run_query(check_sql) -%}
    {%- if failing.rows -%}
        {%- set totals = failing.rows[0] -%}
        {%- set first = run_query(
            "select sales_line_id, rejection_reason, left(coalesce(raw_line, ''), 80)"
            ~ " from " ~ ref('stg_sales__lines') ~ " where rejection_reason like 'malformed line:%'"
            ~ " order by sales_line_id limit 5"
        ) -%}
        {%- set shown = [] -%}
        {%- for row in first.rows -%}
            {%- do shown.append(
                "sales line " ~ row[0] ~ " (" ~ row[1] | replace('malformed line: ', '') ~ "): "
                ~ tojson(row[2])
            ) -%}
        {%- endfor -%}
        {%- if totals['has_cut_open_quote'] -%}
            {%- set problem = "a quote is opened and never closed, and the reader took more than "
                ~ "10,000 characters (many lines) after it as one field: how much of the file "
                ~ "is lost is unknown. Fix that quote (the first line below)" -%}
        {%- else -%}
            {%- set problem = totals['malformed_line_count'] ~ " of its " ~ totals['line_count']
                ~ " lines (" ~ "%.1f" | format(totals['malformed_share'] * 100) ~ "%) are "
                ~ "malformed, more than max_rejected_share " ~ max_share ~ " allows. Fix the "
                ~ "export, or raise max_rejected_share if these lines may be left out" -%}
        {%- endif -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ var('sales_path', '') ~ "': " ~ problem ~ ". The first malformed "
            ~ "line(s): " ~ shown | join("; ") ~ ". Nothing was built from the file. Every "
            ~ "malformed line is in stg_sales__lines with its line in the file, the reader's "
            ~ "message and the raw line (`make build` keeps this build as <database>.failed): "
            ~ "select * from stg_sales__lines where rejection_reason like 'malformed%'."
        ) }}
    {%- endif -%}
{%- endif -%}
{{ check_sql }}
