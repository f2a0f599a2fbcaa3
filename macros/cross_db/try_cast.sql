{#
    A cast that gives null instead of failing on a value it cannot convert
    (e.g. an unreadable order_date). dbt's safe_cast is a plain cast on
    DuckDB, which fails the build on the first bad value.
#}
{% macro try_cast(expression, data_type) %}
    {{- return(adapter.dispatch('try_cast', 'recommender')(expression, data_type)) -}}
{% endmacro %}

{% macro default__try_cast(expression, data_type) %}
    {{- return(dbt.safe_cast(expression, data_type)) -}}
{% endmacro %}

{% macro duckdb__try_cast(expression, data_type) %}
    {{- return("try_cast(" ~ expression ~ " as " ~ data_type ~ ")") -}}
{% endmacro %}

{% macro spark__try_cast(expression, data_type) %}
    {{- return("try_cast(" ~ expression ~ " as " ~ data_type ~ ")") -}}
{% endmacro %}
