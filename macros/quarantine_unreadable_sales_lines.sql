{#
    Lines the reader could not parse, quarantined in stg_sales__lines (its
    pre- and post-hook). DuckDB's CSV reader keeps them itself (store_rejects:
    file, line, the raw line, the error) in two temporary tables of the
    connection that ran the model; the post-hook, on that same connection:

    1. takes one row per rejected line, with a reason of our own (the
       accepted_values test lists them) and DuckDB's message as the detail;
    2. gives it its place in the input: sales_line_id is the line's position
       (from 1, after the header; a glob: in the files one after the other,
       in name order, as DuckDB reads them);
    3. moves the accepted lines after each rejected one up by one, so they
       too keep their position (staging numbered them as they came, without
       the gaps): touches nothing when nothing was rejected;
    4. inserts the rejected lines, so accepted + rejected = lines in the file.

    Other readers reject nothing here (default__: no hook). Spark's reader
    gets its own spark__ next to duckdb__.
#}
{% macro reset_sales_rejects() %}
    {{- return(adapter.dispatch('reset_sales_rejects', 'recommender')()) -}}
{% endmacro %}


{% macro default__reset_sales_rejects() %}
    {{- return('') -}}
{% endmacro %}


{% macro duckdb__reset_sales_rejects() %}
    {%- set tables = sales_rejects_tables() -%}
    {{- return(
        "drop table if exists temp.main." ~ tables.errors
        ~ "; drop table if exists temp.main." ~ tables.scans
    ) -}}
{% endmacro %}


{% macro quarantine_unreadable_sales_lines() %}
    {{- return(adapter.dispatch('quarantine_unreadable_sales_lines', 'recommender')()) -}}
{% endmacro %}


{% macro default__quarantine_unreadable_sales_lines() %}
    {{- return('') -}}
{% endmacro %}


{% macro duckdb__quarantine_unreadable_sales_lines() %}
    {%- set path = var('sales_path', '') -%}
    {%- if not (execute and path and is_csv_path(path)) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tables = sales_rejects_tables() -%}
    {%- set unreadable = 'temp.main.sales_unreadable_lines' -%}
    {%- set reasons = unreadable_line_reasons() -%}
    {%- set reason_case -%}
        case errors.error_type
            {%- for error_type, reason in reasons.items() %}
            when '{{ error_type }}' then '{{ reason }}'
            {%- endfor %}
            else 'malformed line: unreadable'
        end
    {%- endset -%}
    {%- set located -%}
        create or replace temp table {{ unreadable }} as
        with errors as (
            select
                scans.file_path,
                errors.line,
                errors.csv_line,
                errors.error_message,
                {{ reason_case }} as reason,
                -- One row per line: the error that explains the most (a quote left
                -- open also makes the line too long; that is the quote's doing).
                row_number() over (
                    partition by errors.scan_id, errors.file_id, errors.line
                    order by case errors.error_type
                        when 'UNQUOTED VALUE' then 0 when 'LINE SIZE OVER MAXIMUM' then 2
                        else 1 end
                ) as preference
            from temp.main.{{ tables.errors }} as errors
            inner join temp.main.{{ tables.scans }} as scans
                on errors.scan_id = scans.scan_id and errors.file_id = scans.file_id
        ),
        files as (
            select file as file_path, row_number() over (order by file) as file_order
            from glob({{ sales_path_literal(path) }})
        ),
        accepted_per_file as (
            select source_file as file_path, count(*) as line_count
            from {{ this }}
            group by source_file
        ),
        rejected_per_file as (
            select file_path, count(*) as line_count
            from errors
            where preference = 1
            group by file_path
        ),
        lines_per_file as (
            select
                files.file_path,
                files.file_order,
                coalesce(accepted_per_file.line_count, 0)
                + coalesce(rejected_per_file.line_count, 0) as line_count
            from files
            left join accepted_per_file on files.file_path = accepted_per_file.file_path
            left join rejected_per_file on files.file_path = rejected_per_file.file_path
        ),
        offsets as (
            select file_path,
                coalesce(sum(line_count) over (
                    order by file_order rows between unbounded preceding and 1 preceding
                ), 0) as lines_before
            from lines_per_file
        )
        select
            offsets.lines_before + errors.line - 1 as sales_line_id,
            row_number() over (order by offsets.lines_before + errors.line) as rejected_rank,
            errors.file_path as source_file,
            errors.reason as rejection_reason,
            'line ' || errors.line || ' of the file (the header is line 1): '
            || errors.error_message as rejection_detail,
            errors.csv_line as raw_line
        from errors
        inner join offsets on errors.file_path = offsets.file_path
        where errors.preference = 1
    {%- endset -%}
    {#-
        Accepted line k (numbered as it came) has j rejected lines before it when
        the j-th rejected line comes after k - 1 + j accepted ones: the shift is
        constant between two rejected lines, so it is an update over a handful of
        intervals (a correlated count per line took 14 s at 5M lines; this 1.4 s).
    -#}
    {%- set renumbered -%}
        update {{ this }} as lines
        set sales_line_id = lines.sales_line_id + shifts.shift
        from (
            select
                sales_line_id - rejected_rank as after_k,
                rejected_rank as shift,
                coalesce(
                    lead(sales_line_id - rejected_rank) over (order by rejected_rank),
                    9223372036854775807
                ) as until_k
            from {{ unreadable }}
        ) as shifts
        where lines.sales_line_id > shifts.after_k and lines.sales_line_id <= shifts.until_k
    {%- endset -%}
    {%- set inserted -%}
        insert into {{ this }} (
            sales_line_id, order_id, product_id, category, source_file,
            rejection_reason, rejection_detail, raw_line
        )
        select
            sales_line_id, null, null, null, source_file,
            rejection_reason, rejection_detail, raw_line
        from {{ unreadable }}
    {%- endset -%}
    {{ return(located ~ ";\n" ~ renumbered ~ ";\n" ~ inserted) }}
{% endmacro %}


{#  DuckDB's error types of rejected CSV lines, and the reason staging gives each. #}
{% macro unreadable_line_reasons() %}
    {{- return({
        'TOO MANY COLUMNS': 'malformed line: too many fields',
        'MISSING COLUMNS': 'malformed line: too few fields',
        'UNQUOTED VALUE': 'malformed line: unterminated quote',
        'INVALID ENCODING': 'malformed line: not valid UTF-8',
        'INVALID UNICODE': 'malformed line: not valid UTF-8',
        'LINE SIZE OVER MAXIMUM': 'malformed line: too long',
    }) -}}
{% endmacro %}
