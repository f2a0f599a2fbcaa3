{#
    The relation staging reads sales lines from: the `raw_sales` seed, or the
    user's own CSV/Parquet file (or glob) when the `sales_path` var is set.
    Every column is read as text so ids keep leading zeros and unicode.
#}
{% macro sales_source() %}
    {%- set path = var('sales_path', '') -%}
    {%- if not path -%}
        {{ return(ref('raw_sales')) }}
    {%- endif -%}
    {%- set reader = sales_file_reader(path) -%}
    {%- if execute -%}
        {%- do check_sales_columns(reader, path) -%}
    {%- endif -%}
    {{ return(reader) }}
{% endmacro %}


{% macro sales_file_reader(path) %}
    {%- set path = path | string -%}
    {%- set quoted = "'" ~ path | replace("'", "''") ~ "'" -%}
    {%- set lowered = path | lower -%}
    {%- if lowered.endswith('.parquet') -%}
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


{% macro check_sales_columns(reader, path) %}
    {%- set required = ['order_id', 'product_id', 'category'] -%}
    {%- set described = run_query("describe select * from " ~ reader) -%}
    {%- set found = described.columns[0].values() | map('lower') | list -%}
    {%- set missing = [] -%}
    {%- for column in required if column not in found -%}
        {%- do missing.append(column) -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            "Sales file '" ~ path ~ "' is missing required column(s): " ~ missing | join(', ')
            ~ ". It has: " ~ found | join(', ') ~ ". Rename the columns to order_id, "
            ~ "product_id, category (other columns are ignored) or point sales_path at another file."
        ) }}
    {%- endif -%}
{% endmacro %}
