{#
    The widest exact integer type, for sums of squared pair counts that
    overflow bigint on big catalogues: DuckDB's hugeint (128 bits); elsewhere
    decimal(38, 0) (Spark has no 128-bit integer type).
#}
{% macro type_wide_integer() %}
    {{- return(adapter.dispatch('type_wide_integer', 'recommender')()) -}}
{% endmacro %}

{% macro default__type_wide_integer() %}
    {{- return('decimal(38, 0)') -}}
{% endmacro %}

{% macro duckdb__type_wide_integer() %}
    {{- return('hugeint') -}}
{% endmacro %}
