{#
    An optional column of the sales input, as a timestamp: the column cast
    (unreadable values null) when the input has it, else a typed null. Which
    columns the input has is only known when dbt executes (the file is
    described then); at parse time the column is taken as absent.
    source_relation: what sales_source() returned.
#}
{% macro optional_sales_timestamp(source_relation, column) %}
    {%- set timestamp_type = api.Column.translate_type('timestamp') -%}
    {%- if execute and column in sales_source_columns(source_relation) -%}
        {{- return(try_cast(
            "nullif(trim(cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")), '')", timestamp_type
        )) -}}
    {%- endif -%}
    {{- return("cast(null as " ~ timestamp_type ~ ")") -}}
{% endmacro %}


{#
    The input's column names, lower case: a file is described, the seed
    looked up (none while it is not loaded yet, e.g. when linting).
#}
{% macro sales_source_columns(source_relation) %}
    {%- if source_relation is string -%}
        {%- set described = run_query("describe select * from " ~ source_relation) -%}
        {{- return(described.columns[0].values() | map('lower') | list) -}}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(source_relation) -%}
    {{- return(columns | map(attribute='name') | map('lower') | list) -}}
{% endmacro %}
