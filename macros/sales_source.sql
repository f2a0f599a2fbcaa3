{#
    The relation staging reads sales lines from: the `raw_sales` seed, the
    user's own CSV/Parquet file (or glob) when the `sales_path` var is set, or
    a table already in the database when `sales_relation` is.
    Every column is read as text so ids keep leading zeros and unicode.

    Before the file is read for real it is checked (only when dbt executes),
    so a bad file fails with a message naming the file, the problem and the
    fix instead of a reader error deep in the build:
    no matching file, an empty (0-byte) file, text that is not UTF-8 (CSV),
    a missing required column, a header without any sales line.

    A CSV's dialect comes from its header, the first line (sales_csv_header),
    never from DuckDB's sniffer, which a few malformed lines can mislead into
    reading the file as one column. Lines DuckDB's reader cannot parse (wrong
    number of fields, an unterminated quote, bytes that are not UTF-8) are
    kept by the reader itself (store_rejects) and quarantined by staging's
    post-hook (quarantine_unreadable_sales_lines).
#}
{% macro sales_source() %}
    {%- set path = var('sales_path', '') -%}
    {%- set relation = var('sales_relation', '') -%}
    {%- if relation and not path -%}
        {#- validate_vars checked the name; the table's columns are checked as a file's are. -#}
        {%- if execute -%}
            {%- do check_sales_relation_exists(relation) -%}
            {%- do check_sales_columns(relation, relation) -%}
            {%- do check_sales_not_empty(relation, relation) -%}
        {%- endif -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- if not path -%}
        {{ return(ref('raw_sales')) }}
    {%- endif -%}
    {%- if execute -%}
        {%- do check_sales_file(path) -%}
        {%- set readers = sales_file_readers(path) -%}
        {%- do check_sales_columns(readers.probe, path) -%}
        {%- do check_sales_not_empty(readers.probe, path) -%}
        {%- do report_sales_float_columns(path) -%}
        {{ return(readers.get('reader') or sales_file_reader(path, keep_rejects=true)) }}
    {%- endif -%}
    {{ return(sales_file_reader(path, keep_rejects=true)) }}
{% endmacro %}


{#
    sales_relation names a table the build does not make: say so before a
    reader error does ("Catalog Error: Table ... does not exist").
#}
{% macro check_sales_relation_exists(relation) %}
    {%- set parts = relation.split('.') -%}
    {%- set identifier = parts[-1] -%}
    {%- set schema = parts[-2] if parts | length > 1 else target.schema -%}
    {%- set database = parts[0] if parts | length > 2 else target.database -%}
    {%- if adapter.get_relation(database=database, schema=schema, identifier=identifier) is none -%}
        {{ exceptions.raise_compiler_error(
            "sales_relation '" ~ relation ~ "' matches no table or view (looked in schema '"
            ~ schema ~ "'). Create it first, name it as [schema.]table, or set sales_path to "
            ~ "read a CSV/Parquet file instead."
        ) }}
    {%- endif -%}
{% endmacro %}


{#  The column of the reader's output that names each line's file. #}
{% macro sales_file_column() %}
    {{- return('sales_source_file') -}}
{% endmacro %}


{#  The columns readers add to the file's own (not sales columns: checks leave them out). #}
{% macro sales_reader_columns() %}
    {{- return([sales_file_column(), 'file_row_number', 'sales_line_number', 'sales_raw_line']) -}}
{% endmacro %}


{#
    The file each line came from, as staging records it: for a glob the
    reader's column; for one file (or the seed) its path as a literal, which
    DuckDB stores as a constant (the reader's column costs ~2 s at 5M lines).
#}
{% macro sales_file_name() %}
    {%- set path = var('sales_path', '') | string -%}
    {%- if not path and var('sales_relation', '') -%}
        {{ return(sales_path_literal(var('sales_relation'))) }}
    {%- elif not path -%}
        {{ return(sales_path_literal('seeds/raw_sales.csv')) }}
    {%- elif is_glob(path) -%}
        {{ return(sales_file_column()) }}
    {%- endif -%}
    {{ return(sales_path_literal(path)) }}
{% endmacro %}


{% macro is_glob(path) %}
    {%- set path = path | string -%}
    {{- return('*' in path or '?' in path or '[' in path or '{' in path) -}}
{% endmacro %}


{#  The path as a SQL string literal: the only way the var reaches SQL. #}
{% macro sales_path_literal(path) %}
    {{- return("'" ~ (path | string) | replace("'", "''") ~ "'") -}}
{% endmacro %}


{#  One Parquet file, not a glob: its reader numbers the lines (sales_line_number). #}
{% macro is_single_parquet_file(path) %}
    {{- return((path | string | lower).endswith('.parquet') and not is_glob(path)) -}}
{% endmacro %}


{#
    The expression staging numbers sales lines with (sales_line_id, from 1),
    in the order the lines are in the input. One Parquet file carries that
    number (read_parquet's file_row_number, from 0), which spares a window
    over every line: about half of staging's time on big files. A glob
    restarts it in each file, so there, and for CSV and the seed, the lines
    are numbered in the order they are read (row_number() over (), which
    keeps file order because preserve_insertion_order stays on).
#}
{% macro sales_line_number() %}
    {{- return(adapter.dispatch('sales_line_number', 'recommender')()) -}}
{% endmacro %}


{% macro default__sales_line_number() %}
    {%- set path = var('sales_path', '') -%}
    {%- if path and is_single_parquet_file(path) -%}
        {{ return("file_row_number + 1") }}
    {%- endif -%}
    {{ return("row_number() over ()") }}
{% endmacro %}


{#
    The reader of the sales file(s), one per engine. keep_rejects: a CSV
    reader keeps the lines it cannot parse (DuckDB: in temporary tables,
    sales_rejects_tables()) instead of failing; the probes of the checks
    skip them instead. Every reader adds each line's file (sales_file_column()).
#}
{% macro sales_file_reader(path, keep_rejects=false) %}
    {{- return(adapter.dispatch('sales_file_reader', 'recommender')(path, keep_rejects)) -}}
{% endmacro %}


{#
    The checks' probe and the reader of the same file(s), as {'probe', 'reader'}:
    an engine whose readers share costly work (DuckDB's CSV header, read by four
    queries) makes both at once. Without 'reader', sales_source makes it after
    the checks.
#}
{% macro sales_file_readers(path) %}
    {{- return(adapter.dispatch('sales_file_readers', 'recommender')(path)) -}}
{% endmacro %}


{% macro default__sales_file_readers(path) %}
    {{- return({'probe': sales_file_reader(path, keep_rejects=false)}) -}}
{% endmacro %}


{% macro duckdb__sales_file_readers(path) %}
    {%- if not (execute and is_csv_path(path)) -%}
        {{ return(default__sales_file_readers(path)) }}
    {%- endif -%}
    {%- set header = sales_csv_header(path) -%}
    {{ return({
        'probe': sales_csv_reader(path, keep_rejects=false, header=header),
        'reader': sales_csv_reader(path, keep_rejects=true, header=header),
    }) }}
{% endmacro %}


{% macro default__sales_file_reader(path, keep_rejects) %}
    {{ exceptions.raise_compiler_error(
        "Reading sales_path is not implemented for the " ~ target.type ~ " adapter yet: "
        ~ "leave sales_path empty (the sample seed), or load the file into a table first."
    ) }}
{% endmacro %}


{% macro duckdb__sales_file_reader(path, keep_rejects) %}
    {%- set path = path | string -%}
    {%- set quoted = sales_path_literal(path) -%}
    {%- set lowered = path | lower -%}
    {%- set file_column = "filename = '" ~ sales_file_column() ~ "'" -%}
    {%- if is_single_parquet_file(path) -%}
        {{ return("read_parquet(" ~ quoted ~ ", file_row_number = true, " ~ file_column ~ ")") }}
    {%- elif lowered.endswith('.parquet') -%}
        {{ return("read_parquet(" ~ quoted ~ ", " ~ file_column ~ ")") }}
    {%- elif is_csv_path(path) -%}
        {{ return(sales_csv_reader(path, keep_rejects)) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "sales_path '" ~ path ~ "' must end in .csv, .csv.gz, .tsv or .parquet "
            ~ "(a glob such as /data/sales_*.parquet is fine)."
        ) }}
    {%- endif -%}
{% endmacro %}


{% macro is_csv_path(path) %}
    {%- set lowered = (path | string) | lower -%}
    {{- return(lowered.endswith('.csv') or lowered.endswith('.csv.gz') or lowered.endswith('.tsv')) -}}
{% endmacro %}


{#  The temporary tables DuckDB's CSV reader keeps rejected lines in (errors, scans). #}
{% macro sales_rejects_tables() %}
    {{- return({'errors': 'sales_reject_errors', 'scans': 'sales_reject_scans'}) -}}
{% endmacro %}


{#
    read_csv with the dialect the header gives (delimiter, column names) and
    RFC 4180 quoting, nothing sniffed: every line is then parsed the same way
    and a malformed one is rejected on its own. While dbt parses (no header
    can be read yet) a plain read_csv stands in; it is never run. header: what
    sales_csv_header(path) gave, when the caller has it already.
#}
{% macro sales_csv_reader(path, keep_rejects, header=none) %}
    {%- set quoted = sales_path_literal(path) -%}
    {%- if not execute -%}
        {{ return("read_csv(" ~ quoted ~ ", header = true, all_varchar = true)") }}
    {%- endif -%}
    {%- set header = header or sales_csv_header(path) -%}
    {%- set columns = [] -%}
    {%- for name in header.columns -%}
        {%- do columns.append(sales_path_literal(name) ~ ": 'varchar'") -%}
    {%- endfor -%}
    {%- set options = [
        "auto_detect = false", "header = true",
        "delim = " ~ sales_path_literal(header.delimiter), "quote = '\"'", "escape = '\"'",
        "columns = {" ~ columns | join(", ") ~ "}",
        "filename = '" ~ sales_file_column() ~ "'",
    ] -%}
    {%- if keep_rejects -%}
        {%- set tables = sales_rejects_tables() -%}
        {%- do options.extend([
            "store_rejects = true", "rejects_table = '" ~ tables.errors ~ "'",
            "rejects_scan = '" ~ tables.scans ~ "'",
        ]) -%}
    {%- else -%}
        {%- do options.append("ignore_errors = true") -%}
    {%- endif -%}
    {{ return("read_csv(" ~ quoted ~ ", " ~ options | join(", ") ~ ")") }}
{% endmacro %}


{#
    The header of a CSV (the first line of the first file): its delimiter and
    column names, read by DuckDB's parser with each usual delimiter in turn
    (only the first line is read). The delimiter is the one that splits the
    header into names that include the required columns; when none does, the
    one that splits it into the most fields, and check_sales_columns names
    what is missing. Header names are trimmed; a blank or repeated name gets
    a position suffix so every column has its own name.
#}
{% macro sales_csv_header(path) %}
    {%- set width = 512 -%}
    {%- set probe_columns = [] -%}
    {%- for position in range(width) -%}
        {%- do probe_columns.append("'field_" ~ position ~ "': 'varchar'") -%}
    {%- endfor -%}
    {%- set candidates = [] -%}
    {%- for delimiter in [',', ';', '\t', '|'] -%}
        {%- set first_line = run_query(
            "select * from read_csv(" ~ sales_path_literal(path) ~ ", auto_detect = false,"
            ~ " header = false, delim = " ~ sales_path_literal(delimiter)
            ~ ", quote = '\"', escape = '\"', null_padding = true, parallel = false,"
            ~ " strict_mode = false, ignore_errors = true,"
            ~ " columns = {" ~ probe_columns | join(", ") ~ "}) limit 1"
        ) -%}
        {%- set fields = [] -%}
        {%- if first_line.rows -%}
            {%- for value in first_line.rows[0] -%}
                {%- do fields.append(value) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if fields and fields[-1] is not none -%}
            {{ exceptions.raise_compiler_error(
                "Sales file '" ~ path ~ "' has a header of more than " ~ (width - 1)
                ~ " columns; keep order_id, product_id, category (and a few others) and build again."
            ) }}
        {%- endif -%}
        {%- set names = [] -%}
        {%- for value in fields if value is not none -%}
            {%- do names.append(value | trim) -%}
        {%- endfor -%}
        {%- do candidates.append({'delimiter': delimiter, 'names': names}) -%}
    {%- endfor -%}
    {{ return(best_sales_header(candidates)) }}
{% endmacro %}


{#
    Of the header's readings with each delimiter (a list of {'delimiter',
    'names'}, in order of preference), the one that has the required columns,
    else the one with most columns; blank or repeated names get their position
    (column_3, category_5) so every column has a name of its own. Both
    readers' header lookups (sales_csv_header, sales_csv_header_spark) use it.
#}
{% macro best_sales_header(candidates) %}
    {%- set best = {'delimiter': ',', 'columns': [], 'score': -1} -%}
    {%- for candidate in candidates -%}
        {%- set lowered = candidate.names | map('lower') | list -%}
        {%- set has_required = 'order_id' in lowered and 'product_id' in lowered
            and 'category' in lowered -%}
        {%- set score = (1000 if has_required else 0) + candidate.names | length -%}
        {%- if score > best.score -%}
            {%- do best.update(
                {'delimiter': candidate.delimiter, 'columns': candidate.names, 'score': score}
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set unique_names = [] -%}
    {%- for name in best.columns -%}
        {%- set unique_name = name if name and (name | lower) not in (unique_names | map('lower') | list)
            else (name or 'column') ~ '_' ~ loop.index -%}
        {%- do unique_names.append(unique_name) -%}
    {%- endfor -%}
    {{ return({'delimiter': best.delimiter, 'columns': unique_names}) }}
{% endmacro %}


{#
    Files exist, are not empty, and (plain CSV/TSV) are UTF-8 with one kind of
    line ending. Those two checks read each file once more, whole, into
    memory (about 1 s per 200 MB; DuckDB holds a file in blocks of a power of
    two, twice over while decoding), so files above 256 MiB (~8M lines) are
    left to the CSV reader, which refuses them too, with its own message.
    Compressed and Parquet files are always left to their reader.
    Per engine: macros/sales_file_checks_duckdb.sql, macros/sales_source_spark.sql.
#}
{% macro check_sales_file(path) %}
    {{- return(adapter.dispatch('check_sales_file', 'recommender')(path)) -}}
{% endmacro %}


{% macro default__check_sales_file(path) %}
    {{- return('') -}}
{% endmacro %}


{% macro check_sales_columns(reader, path) %}
    {%- set required = ['order_id', 'product_id', 'category'] -%}
    {%- set described = run_query("describe select * from " ~ reader) -%}
    {%- set found = described.columns[0].values() | map('lower') | list -%}
    {#- Columns the readers add: each line's file, and its row number in a Parquet file. -#}
    {%- set found = found | reject('in', sales_reader_columns()) | list -%}
    {%- if is_single_parquet_file(path) -%}
        {%- set found = found | reject('equalto', 'file_row_number') | list -%}
    {%- endif -%}
    {%- set missing = [] -%}
    {%- for column in required if column not in found -%}
        {%- do missing.append(column) -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ path ~ "' is missing required column(s): " ~ missing | join(', ')
            ~ ". It has: " ~ found | join(', ') ~ ". Rename the columns to order_id, "
            ~ "product_id, category (other columns are ignored) or point sales_path at another "
            ~ "file. The header is the file's first line; its delimiter (comma, semicolon, tab or "
            ~ "|) is the one that splits it into those names."
        ) }}
    {%- endif -%}
{% endmacro %}


{#
    A file with a header and no line would build empty tables that look like a
    successful run (and an empty export): refuse it instead.
#}
{% macro check_sales_not_empty(reader, path) %}
    {%- set probe = run_query("select count(*) from (select 1 from " ~ reader ~ " limit 1)") -%}
    {%- if probe.columns[0].values()[0] == 0 -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ path ~ "' has a header but no sales lines: there is nothing to "
            ~ "recommend from. Check the export that wrote it."
        ) }}
    {%- endif -%}
{% endmacro %}


{#
    Ids read from float columns (pandas writes an integer column that has a
    missing value as float64: 9 becomes 9.0). Decision (docs/decisions/
    adr-002-float-ids.md): whole numbers up to 2^53 (exact in a float) are
    written as the integers the user wrote ('9', not '9.0'); any other value
    of such a column (1.5, 1e20, infinity) is quarantined by staging, since
    what the user wrote cannot be known. The build says which columns it
    treated so (sales_source). Text and integer columns are unchanged.
#}
{% macro sales_float_columns() %}
    {%- set path = var('sales_path', '') -%}
    {%- if not (execute and path) or is_csv_path(path) -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set described = run_query(
        "describe select * from " ~ sales_file_reader(path, keep_rejects=false)
    ) -%}
    {%- set floats = [] -%}
    {%- for row in described.rows
        if (row[0] | lower) in ['order_id', 'product_id', 'category']
        and (row[1] | upper) in ['FLOAT', 'DOUBLE', 'REAL', 'FLOAT4', 'FLOAT8'] -%}
        {%- do floats.append(row[0] | lower) -%}
    {%- endfor -%}
    {{ return(floats) }}
{% endmacro %}


{#  The largest whole number every smaller one of which a float64 holds exactly. #}
{% macro exact_float_integer_limit() %}
    {{- return(9007199254740992) -}}
{% endmacro %}


{% macro is_whole_float(column) %}
    {{- return(
        "(isfinite(" ~ column ~ ") and " ~ column ~ " = trunc(" ~ column ~ ") and abs("
        ~ column ~ ") <= " ~ exact_float_integer_limit() ~ ")"
    ) -}}
{% endmacro %}


{#  A sales column as text: as read, or, from a float column, the whole number it holds. #}
{% macro sales_column_text(column) %}
    {%- if column in sales_float_columns() -%}
        {{ return(
            "case when " ~ is_whole_float(column) ~ " then cast(cast(" ~ column ~ " as "
            ~ dbt.type_bigint() ~ ") as " ~ dbt.type_string() ~ ") else cast(" ~ column ~ " as " ~ dbt.type_string() ~ ") end"
        ) }}
    {%- endif -%}
    {{ return("cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")") }}
{% endmacro %}


{#  Why a line's float id cannot be trusted to be what the user wrote, or null. #}
{% macro sales_float_column_problem() %}
    {%- set cases = [] -%}
    {%- for column in sales_float_columns() -%}
        {%- do cases.append(
            "when " ~ column ~ " is not null and not " ~ is_whole_float(column) ~ " then '"
            ~ column ~ " is not a whole number in a float column (what was written is unknown)'"
        ) -%}
    {%- endfor -%}
    {%- if not cases -%}
        {{ return("cast(null as " ~ dbt.type_string() ~ ")") }}
    {%- endif -%}
    {{ return("case " ~ cases | join(" ") ~ " end") }}
{% endmacro %}


{% macro report_sales_float_columns(path) %}
    {%- set floats = sales_float_columns() -%}
    {%- if floats -%}
        {%- do log(
            "Sales file '" ~ path ~ "': column(s) " ~ floats | join(', ') ~ " are floats (pandas "
            ~ "writes integer ids with a missing value so): whole numbers are read as the "
            ~ "integers they hold ('9.0' is '9'); other values are quarantined in sales_rejected. "
            ~ "Write the ids as text or Int64 to skip this.", info=true
        ) -%}
    {%- endif -%}
{% endmacro %}
