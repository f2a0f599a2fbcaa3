{#
    The relation staging reads sales lines from: the `raw_sales` seed, or the
    user's own CSV/Parquet file (or glob) when the `sales_path` var is set.
    Every column is read as text so ids keep leading zeros and unicode.

    Before the file is read for real it is checked (only when dbt executes),
    so a bad file fails with a message naming the file, the problem and the
    fix instead of a reader error deep in the build:
    no matching file, an empty (0-byte) file, text that is not UTF-8 (CSV),
    a missing required column, a header without any sales line.
#}
{% macro sales_source() %}
    {%- set path = var('sales_path', '') -%}
    {%- if not path -%}
        {{ return(ref('raw_sales')) }}
    {%- endif -%}
    {%- set reader = sales_file_reader(path) -%}
    {%- if execute -%}
        {%- do check_sales_file(path) -%}
        {%- do check_sales_columns(reader, path) -%}
        {%- do check_sales_not_empty(reader, path) -%}
    {%- endif -%}
    {{ return(reader) }}
{% endmacro %}


{#  The path as a SQL string literal: the only way the var reaches SQL. #}
{% macro sales_path_literal(path) %}
    {{- return("'" ~ (path | string) | replace("'", "''") ~ "'") -}}
{% endmacro %}


{#  One Parquet file, not a glob: its reader numbers the lines (sales_line_number). #}
{% macro is_single_parquet_file(path) %}
    {%- set path = path | string -%}
    {%- set has_wildcard = '*' in path or '?' in path or '[' in path or '{' in path -%}
    {{- return((path | lower).endswith('.parquet') and not has_wildcard) -}}
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
    {%- set path = var('sales_path', '') -%}
    {%- if path and is_single_parquet_file(path) -%}
        {{ return("file_row_number + 1") }}
    {%- endif -%}
    {{ return("row_number() over ()") }}
{% endmacro %}


{% macro sales_file_reader(path) %}
    {%- set path = path | string -%}
    {%- set quoted = sales_path_literal(path) -%}
    {%- set lowered = path | lower -%}
    {%- if is_single_parquet_file(path) -%}
        {{ return("read_parquet(" ~ quoted ~ ", file_row_number = true)") }}
    {%- elif lowered.endswith('.parquet') -%}
        {{ return("read_parquet(" ~ quoted ~ ")") }}
    {%- elif lowered.endswith('.csv') or lowered.endswith('.csv.gz') or lowered.endswith('.tsv') -%}
        {{ return("read_csv(" ~ quoted ~ ", header = true, all_varchar = true)") }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "sales_path '" ~ path ~ "' must end in .csv, .csv.gz, .tsv or .parquet "
            ~ "(a glob such as /data/sales_*.parquet is fine)."
        ) }}
    {%- endif -%}
{% endmacro %}


{#
    Files exist, are not empty, and (plain CSV/TSV) are UTF-8 with one kind of
    line ending. Those two checks read each file once more, whole, into
    memory (about 1 s per 200 MB; DuckDB holds a file in blocks of a power of
    two, twice over while decoding), so files above 256 MiB (~8M lines) are
    left to the CSV reader, which refuses them too, with its own message.
    Compressed and Parquet files are always left to their reader.
#}
{% macro check_sales_file(path) %}
    {%- set quoted = sales_path_literal(path) -%}
    {%- set lowered = (path | string) | lower -%}
    {%- set checks_text = lowered.endswith('.csv') or lowered.endswith('.tsv') -%}
    {%- set files = run_query("select count(*) from glob(" ~ quoted ~ ")") -%}
    {%- if files.columns[0].values()[0] == 0 -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ path ~ "' does not exist (no file matches it). Relative paths "
            ~ "are relative to the dbt project folder; check sales_path."
        ) }}
    {%- endif -%}
    {%- set text_check_max_bytes = 256 * 1024 * 1024 -%}
    {%- set sizes = run_query(
        "select filename, size from read_blob(" ~ quoted ~ ") order by filename"
    ) -%}
    {%- set empty_files = [] -%}
    {%- set small_files = [] -%}
    {%- for row in sizes.rows -%}
        {%- if row['size'] == 0 -%}
            {%- do empty_files.append(row['filename']) -%}
        {%- elif row['size'] <= text_check_max_bytes -%}
            {%- do small_files.append(sales_path_literal(row['filename'])) -%}
        {%- elif checks_text -%}
            {%- do log(
                "Sales file '" ~ row['filename'] ~ "' is larger than "
                ~ text_check_max_bytes // (1024 * 1024) ~ " MiB: its UTF-8 and line-ending "
                ~ "checks are left to DuckDB's CSV reader (memory).", info=true
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if empty_files -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ empty_files | join("', '") ~ "' is empty (0 bytes): it has no "
            ~ "header and no sales lines. Re-export it, or point sales_path at another file."
        ) }}
    {%- endif -%}
    {%- if checks_text and small_files -%}
        {%- set checked = run_query(text_checks_sql("[" ~ small_files | join(", ") ~ "]")) -%}
        {%- set invalid_files = [] -%}
        {%- set mixed_files = [] -%}
        {%- for row in checked.rows -%}
            {%- if row['is_not_utf8'] -%}{%- do invalid_files.append(row['filename']) -%}{%- endif -%}
            {%- if row['mixes_line_endings'] -%}{%- do mixed_files.append(row['filename']) -%}{%- endif -%}
        {%- endfor -%}
        {%- if invalid_files -%}
            {{ exceptions.raise_compiler_error(
                "Sales file '" ~ invalid_files | join("', '") ~ "' is not UTF-8 text (it has "
                ~ "bytes that are not valid UTF-8, e.g. a Latin-1 or Windows-1252 export). "
                ~ "Re-export it as UTF-8, or convert it, e.g. "
                ~ "`iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv`, and point sales_path at "
                ~ "the converted file."
            ) }}
        {%- endif -%}
        {%- if mixed_files -%}
            {{ exceptions.raise_compiler_error(
                "Sales file '" ~ mixed_files | join("', '") ~ "' mixes Windows (CR LF) and Unix "
                ~ "(LF) line endings, e.g. two extracts concatenated; DuckDB's CSV reader "
                ~ "cannot read such a file. Convert it to one kind, e.g. "
                ~ "`sed -i 's/\\r$//' sales.csv` (or `dos2unix sales.csv`), and build again."
            ) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#
    One pass over each CSV's bytes: is it UTF-8, and does it mix CR LF and LF
    row ends? Line breaks inside quoted fields do not count (Excel writes LF
    inside cells of CR LF files): when a file has both kinds, they are looked
    for again with the quoted fields taken out. The regular expressions use
    RE2's \r and \n escapes.
#}
{% macro text_checks_sql(quoted_paths) %}
    {%- set crlf = "chr(13) || chr(10)" -%}
    {%- set bare_lf = "'(^|[^\\r])\\n'" -%}
    {%- set unquoted = "regexp_replace(text, '\"([^\"]|\"\")*\"', '', 'g')" -%}
    {#- CASE evaluates a branch only for the files that reach it: most files stop at the first. -#}
    {{- return(
        "select filename, text is null as is_not_utf8, coalesce(case"
        ~ " when not contains(text, " ~ crlf ~ ") then false"
        ~ " when not regexp_matches(text, " ~ bare_lf ~ ") then false"
        ~ " else contains(" ~ unquoted ~ ", " ~ crlf ~ ")"
        ~ " and regexp_matches(" ~ unquoted ~ ", " ~ bare_lf ~ ")"
        ~ " end, false) as mixes_line_endings"
        ~ " from (select filename, try(decode(content)) as text from read_blob(" ~ quoted_paths
        ~ ")) as files order by filename"
    ) -}}
{% endmacro %}


{% macro check_sales_columns(reader, path) %}
    {%- set required = ['order_id', 'product_id', 'category'] -%}
    {%- set described = run_query("describe select * from " ~ reader) -%}
    {%- set found = described.columns[0].values() | map('lower') | list -%}
    {%- if is_single_parquet_file(path) -%}
        {#- The line number read_parquet adds (sales_line_number) is not the file's. -#}
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
            ~ "file. If the names look right, a malformed line (a different number of fields) "
            ~ "may have hidden the delimiter: check the first lines."
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
