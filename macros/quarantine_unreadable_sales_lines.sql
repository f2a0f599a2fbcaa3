{#
    Lines the reader could not parse, quarantined in stg_sales__lines (its
    pre- and post-hook). DuckDB's CSV reader keeps them itself (store_rejects:
    file, line, the raw line, the error) in two temporary tables of the
    connection that ran the model; the post-hook, on that same connection:

    1. takes one row per rejected line, with a reason of our own (the
       accepted_values test lists them) and DuckDB's message as the detail;
    2. gives it its place in the input: sales_line_id is the line's position
       (from 1, after the header; a glob: in the files one after the other,
       in name order, as DuckDB reads them), blank lines left out as the
       reader leaves them out (sales_blank_lines_before);
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
    {%- set rejected_files = run_query(
        "select distinct scans.file_path, scans.delimiter from "
        ~ rejects_with_their_files(tables) ~ " order by 1"
    ) -%}
    {%- if not rejected_files.rows -%}
        {{ return('') }}
    {%- endif -%}
    {%- set blank_lines = sales_blank_lines_before(rejected_files.rows) -%}
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
            from {{ rejects_with_their_files(tables) }}
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
        ),
        blanks as (
            select
                errors.file_path,
                errors.line,
                -- The empty records before the line that are not rejected lines, at
                -- most the file's blank lines: its records - accepted - rejected.
                -- (No counts: the second read read none of the file's lines.)
                least(
                    coalesce(before.empty_records, 0),
                    coalesce(counts.records - lines_per_file.line_count, 0)
                ) as blank_lines
            from errors
            left join {{ blank_lines.empty_before }} as before
                on errors.file_path = before.file_path and errors.line = before.line
            left join {{ blank_lines.records }} as counts on errors.file_path = counts.file_path
            inner join lines_per_file on errors.file_path = lines_per_file.file_path
            where errors.preference = 1
        )
        select
            offsets.lines_before + errors.line - 1 - blanks.blank_lines as sales_line_id,
            row_number() over (
                order by offsets.lines_before + errors.line - blanks.blank_lines
            ) as rejected_rank,
            errors.file_path as source_file,
            errors.reason as rejection_reason,
            'line ' || errors.line || ' of the file (the header is line 1): '
            || errors.error_message as rejection_detail,
            -- DuckDB's text of a line starts with the blank lines before it.
            ltrim(errors.csv_line, chr(13) || chr(10)) as raw_line
        from errors
        inner join offsets on errors.file_path = offsets.file_path
        inner join blanks on errors.file_path = blanks.file_path and errors.line = blanks.line
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
    {{ return(blank_lines.sql ~ ";\n" ~ located ~ ";\n" ~ renumbered ~ ";\n" ~ inserted) }}
{% endmacro %}


{#
    DuckDB's CSV reader skips blank lines (staging does not number them) but
    counts them in a rejected line's number (line), so that number alone puts
    the line after the blank lines before it. This finds, for each rejected
    line, how many records before it were blank: a second read of the files
    that have rejected lines (none when nothing is rejected), by DuckDB's
    parser with the same dialect and one column, which keeps a blank line as
    an empty record (~0.1 s at 800k lines, a tenth of staging). Its empty
    records are the blank lines, the rejected lines whose first field is
    empty, and the accepted lines whose first field is empty: the reader
    cannot tell those from blank lines, so each rejected line counts the empty
    records before it that are not rejected, at most the file's blank lines
    (records - accepted - rejected). That is exact unless an accepted line's
    first field is empty; then a rejected line can come a few places early
    (ids stay 1..N, each once). Lines the second read cannot read (too long,
    not UTF-8 in the first field: rejected lines too) are skipped by it and
    counted back from its own rejects table.

    rows: (file path, delimiter) of each file with a rejected line. Returns the
    statements ('sql') and the two tables they make: 'records' (file_path,
    records: the file's records, blank ones included) and 'empty_before'
    (file_path, line: each rejected line's number, empty_records: the empty
    records before it that are not rejected).
#}
{% macro sales_blank_lines_before(rows) %}
    {%- set probe = 'temp.main.sales_record_probe' -%}
    {%- set skipped = 'temp.main.sales_record_probe_skipped' -%}
    {%- set tables = sales_rejects_tables() -%}
    {%- set probe_tables = {'errors': 'sales_record_probe_errors', 'scans': 'sales_record_probe_scans'} -%}
    {%- set result = {
        'records': 'temp.main.sales_record_counts',
        'empty_before': 'temp.main.sales_empty_records_before',
    } -%}
    {%- set files = [] -%}
    {%- for row in rows -%}
        {%- do files.append(sales_path_literal(row[0])) -%}
    {%- endfor -%}
    {%- set statements = [
        "drop table if exists temp.main." ~ probe_tables.errors,
        "drop table if exists temp.main." ~ probe_tables.scans,
    ] -%}
    {#-
        One pass keeps what the next steps need: the empty records (their rank
        among the records read) and, per file, the rank of its first record and
        how many were read; not a row per line.
    -#}
    {%- set read -%}
        create or replace temp table {{ probe }} as
        with records as materialized (
            select
                file_path,
                row_number() over () as probe_rank,
                first_field is null as is_empty
            from read_csv(
                [{{ files | join(', ') }}], auto_detect = false, header = true,
                delim = {{ sales_path_literal(rows[0][1]) }}, quote = '"', escape = '"',
                columns = {'first_field': 'varchar'}, strict_mode = false,
                store_rejects = true, rejects_table = '{{ probe_tables.errors }}',
                rejects_scan = '{{ probe_tables.scans }}', filename = 'file_path'
            )
        )
        select file_path, probe_rank, false as is_file, null as records_read
        from records
        where is_empty
        union all
        select file_path, min(probe_rank), true, count(*)
        from records
        group by file_path
    {%- endset -%}
    {%- do statements.append(read) -%}
    {%- set skipped_lines -%}
        create or replace temp table {{ skipped }} as
        select
            file_path,
            line - 1 as record_index,
            row_number() over (partition by file_path order by line) as skipped_rank
        from (
            select distinct scans.file_path, errors.line
            from {{ rejects_with_their_files(probe_tables) }}
        ) as lines
    {%- endset -%}
    {%- do statements.append(skipped_lines) -%}
    {%- set counted -%}
        create or replace temp table {{ result.records }} as
        select
            files.file_path,
            files.first_rank,
            files.emitted + coalesce(skips.skipped, 0) as records
        from (
            select file_path, probe_rank as first_rank, records_read as emitted
            from {{ probe }}
            where is_file
        ) as files
        left join (
            select file_path, count(*) as skipped from {{ skipped }} group by file_path
        ) as skips on files.file_path = skips.file_path
    {%- endset -%}
    {%- do statements.append(counted) -%}
    {#-
        An emitted record's index (from 1, after the header) is its rank in the
        file plus the records the read skipped before it: skipped record j
        (by index) comes before emitted record e when index_j - j < e.
    -#}
    {%- set before -%}
        create or replace temp table {{ result.empty_before }} as
        with empty_records as (
            select
                probe.file_path,
                probe.probe_rank - counts.first_rank + 1 as emitted_index
            from {{ probe }} as probe
            inner join {{ result.records }} as counts on probe.file_path = counts.file_path
            where not probe.is_file
        ),
        indexed as (
            select
                empty_records.file_path,
                empty_records.emitted_index + count(skips.record_index) as record_index
            from empty_records
            left join {{ skipped }} as skips
                on empty_records.file_path = skips.file_path
                and skips.record_index - skips.skipped_rank < empty_records.emitted_index
            group by empty_records.file_path, empty_records.emitted_index
        ),
        rejected as (
            select distinct scans.file_path, errors.line - 1 as record_index
            from {{ rejects_with_their_files(tables) }}
        ),
        marks as (
            select file_path, record_index, false as is_rejected
            from indexed
            where not exists (
                select 1 from rejected
                where rejected.file_path = indexed.file_path
                    and rejected.record_index = indexed.record_index
            )
            union all
            select file_path, record_index, true as is_rejected from rejected
        ),
        running as (
            select
                file_path,
                record_index,
                is_rejected,
                count(*) filter (where not is_rejected) over (
                    partition by file_path order by record_index
                    rows between unbounded preceding and current row
                ) as empty_records
            from marks
        )
        select file_path, record_index + 1 as line, empty_records
        from running
        where is_rejected
    {%- endset -%}
    {%- do statements.append(before) -%}
    {%- do statements.append("drop table " ~ probe) -%}
    {%- do result.update({'sql': statements | join(";\n")}) -%}
    {{ return(result) }}
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


{#
    The FROM clause of a CSV read's rejected lines (store_rejects) joined to
    the scans that name their files: `errors` and `scans`. tables: the
    'errors' and 'scans' temp table names of that read.
#}
{% macro rejects_with_their_files(tables) -%}
    temp.main.{{ tables.errors }} as errors
    inner join temp.main.{{ tables.scans }} as scans
        on errors.scan_id = scans.scan_id and errors.file_id = scans.file_id
{%- endmacro %}
