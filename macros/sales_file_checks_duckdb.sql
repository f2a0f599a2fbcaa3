{#  DuckDB's checks of the sales file(s) before they are read (sales_source.sql's check_sales_file). #}

{% macro duckdb__check_sales_file(path) %}
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
