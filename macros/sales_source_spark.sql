{#
    Spark's reader of the sales file(s) (sales_source.sql has DuckDB's):

    - Parquet: the `parquet.` relation.
    - CSV: a temporary view of Spark's CSV reader with the dialect of the
      file's header (sales_csv_header_spark), every column text, RFC 4180
      quoting, mode PERMISSIVE: a line it cannot parse (too few or too many
      fields, a quote left open) is kept, its text in sales_raw_line, and
      staging rejects it (sales_reader_problem) where DuckDB's post-hook does.
      Not-UTF-8 bytes are read as U+FFFD: staging rejects the lines holding one.

    Lines are numbered in file order without a sort of every line on one task
    (Spark's row_number() needs an ORDER BY, and the file order is not a
    column): monotonically_increasing_id() grows along each read partition,
    and a partition holds consecutive lines of its files, so each (file,
    partition) stretch of lines gets its offset from the stretches before it
    (files in name order, stretches in read order); a small window, whatever
    the input size. sales_line_number counts from 1; source_file is the
    file's URI for a glob (Spark's input_file_name()).
#}
{% macro spark__sales_file_reader(path, keep_rejects) %}
    {%- set path = path | string -%}
    {%- set lowered = path | lower -%}
    {%- set quoted = sql_text_literal(path) -%}
    {%- if lowered.endswith('.parquet') -%}
        {%- set relation = 'parquet.`' ~ path | replace('`', '``') ~ '`' -%}
        {%- set raw_line = ', cast(null as string) as sales_raw_line' -%}
    {%- elif is_csv_path(path) -%}
        {%- set relation = sales_csv_view_spark(path) -%}
        {%- set raw_line = '' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "sales_path '" ~ path ~ "' must end in .csv, .csv.gz, .tsv or .parquet "
            ~ "(a glob such as /data/sales_*.parquet is fine)."
        ) }}
    {%- endif -%}
    {%- if not keep_rejects -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set numbered -%}
        (
            with read_lines as (
                select
                    *{{ raw_line }},
                    input_file_name() as {{ sales_file_column() }},
                    monotonically_increasing_id() as sales_read_position
                from {{ relation }}
            ),
            stretches as (
                select
                    {{ sales_file_column() }},
                    shiftright(sales_read_position, 33) as read_partition,
                    min(sales_read_position) as first_position,
                    count(*) as line_count
                from read_lines
                group by {{ sales_file_column() }}, shiftright(sales_read_position, 33)
            ),
            offsets as (
                select
                    {{ sales_file_column() }},
                    read_partition,
                    first_position,
                    coalesce(sum(line_count) over (
                        order by {{ sales_file_column() }}, first_position
                        rows between unbounded preceding and 1 preceding
                    ), 0) as lines_before
                from stretches
            )
            select
                read_lines.*,
                offsets.lines_before + read_lines.sales_read_position
                - offsets.first_position + 1 as sales_line_number
            from read_lines
            inner join offsets
                on
                    read_lines.{{ sales_file_column() }} = offsets.{{ sales_file_column() }}
                    and shiftright(read_lines.sales_read_position, 33) = offsets.read_partition
        ) as sales_file
    {%- endset -%}
    {{ return(numbered) }}
{% endmacro %}


{#
    The CSV file as a temporary view of this Spark session (created when dbt
    executes; while it parses, a plain `csv.` relation stands in, never run).
#}
{% macro sales_csv_view_spark(path) %}
    {%- if not execute -%}
        {{ return('csv.`' ~ path | replace('`', '``') ~ '`') }}
    {%- endif -%}
    {%- set header = sales_csv_header_spark(path) -%}
    {%- set columns = [] -%}
    {%- for name in header.columns -%}
        {%- do columns.append('`' ~ name | replace('`', '``') ~ '` string') -%}
    {%- endfor -%}
    {%- do columns.append('sales_raw_line string') -%}
    {%- set view = 'sales_file_lines' -%}
    {%- do run_query(
        "create or replace temporary view " ~ view ~ " (" ~ columns | join(', ') ~ ")"
        ~ " using csv options (path " ~ sql_text_literal(path) ~ ", header 'true'"
        ~ ", sep " ~ sql_text_literal(header.delimiter) ~ ", quote '\"', escape '\"'"
        ~ ", mode 'PERMISSIVE', columnNameOfCorruptRecord 'sales_raw_line'"
        ~ ", enforceSchema 'true', encoding 'UTF-8')"
    ) -%}
    {{ return(view) }}
{% endmacro %}


{#
    The header of a CSV (its first line): the delimiter and column names, as
    sales_csv_header (DuckDB) finds them (best_sales_header), from the line Spark's text reader
    gives. Quoted header names lose their quotes.
#}
{% macro sales_csv_header_spark(path) %}
    {%- set first = run_query(
        "select value from text.`" ~ path | replace('`', '``') ~ "` limit 1"
    ) -%}
    {%- set line = (first.rows[0][0] if first.rows else '') | replace('\ufeff', '') -%}
    {%- set candidates = [] -%}
    {%- for delimiter in [',', ';', '\t', '|'] -%}
        {%- set names = [] -%}
        {%- for value in line.split(delimiter) -%}
            {%- do names.append(value | trim | replace('"', '')) -%}
        {%- endfor -%}
        {%- do candidates.append({'delimiter': delimiter, 'names': names}) -%}
    {%- endfor -%}
    {{ return(best_sales_header(candidates)) }}
{% endmacro %}


{#
    Files exist and are not empty (Spark's binaryFile source lists them
    without reading their content). A path that matches nothing fails in
    Spark's listing, with its PATH_NOT_FOUND message naming the path. The
    UTF-8 and line-ending checks of DuckDB's are not made: staging rejects
    the lines with bytes that are not UTF-8 instead.
#}
{% macro spark__check_sales_file(path) %}
    {%- set listed = run_query(
        "select path, length from binaryFile.`" ~ path | replace('`', '``') ~ "` order by path"
    ) -%}
    {%- if not listed.rows -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ path ~ "' does not exist (no file matches it). Relative paths "
            ~ "are relative to the folder dbt runs in; check sales_path."
        ) }}
    {%- endif -%}
    {%- set empty_files = [] -%}
    {%- for row in listed.rows if row[1] == 0 -%}
        {%- do empty_files.append(row[0]) -%}
    {%- endfor -%}
    {%- if empty_files -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ empty_files | join("', '") ~ "' is empty (0 bytes): it has no "
            ~ "header and no sales lines. Re-export it, or point sales_path at another file."
        ) }}
    {%- endif -%}
{% endmacro %}


{#
    The line numbers of Spark's reader (sales_line_number); the seed, a small
    table, in the order Spark reads it.
#}
{% macro spark__sales_line_number() %}
    {%- if var('sales_path', '') -%}
        {{ return('sales_line_number') }}
    {%- endif -%}
    {{ return('row_number() over (order by monotonically_increasing_id())') }}
{% endmacro %}


{#
    Why Spark's reader could not read a line of a CSV (staging's
    rejection_reason for it; DuckDB's reasons, macros/quarantine_unreadable_sales_lines.sql),
    from its text: a quote left open (an odd number of quotes), else too many
    or too few fields (delimiters outside quotes); or bytes that are not
    UTF-8 (read as U+FFFD). Null for a line read whole.
#}
{% macro spark__sales_reader_problem() %}
    {%- set path = var('sales_path', '') -%}
    {%- if not (execute and path and is_csv_path(path)) -%}
        {{ return('cast(null as string)') }}
    {%- endif -%}
    {%- set header = sales_csv_header_spark(path) -%}
    {%- set quotes = "(length(sales_raw_line) - length(replace(sales_raw_line, '\"', '')))" -%}
    {%- set fields = "size(split(regexp_replace(sales_raw_line, '\"([^\"]|\"\")*\"', ''), '["
        ~ header.delimiter ~ "]', -1))" -%}
    {%- set replacement = "decode(unhex('EFBFBD'), 'UTF-8')" -%}
    {%- set problem -%}
        case
            when sales_raw_line is not null then case
                when {{ quotes }} % 2 = 1 then 'malformed line: unterminated quote'
                when {{ fields }} > {{ header.columns | length }} then 'malformed line: too many fields'
                when {{ fields }} < {{ header.columns | length }} then 'malformed line: too few fields'
                else 'malformed line: unreadable'
            end
            when contains(concat_ws('', order_id, product_id, category), {{ replacement }})
                then 'malformed line: not valid UTF-8'
        end
    {%- endset -%}
    {{ return(problem) }}
{% endmacro %}


{#  The text of the lines Spark's reader could not read (null for the others). #}
{% macro spark__sales_reader_raw_line() %}
    {%- set path = var('sales_path', '') -%}
    {{ return('sales_raw_line' if execute and path else 'cast(null as string)') }}
{% endmacro %}
