{#
    Integer division of two integer expressions (the quotient rounded towards
    zero; both are non-negative where the project uses it). DuckDB's `/` gives
    a double, so it has `//`; Spark's `/` too, so it has `div`; standard SQL
    (PostgreSQL, ...) divides integers as integers with `/`.
#}
{% macro integer_divide(dividend, divisor) %}
    {{- return(adapter.dispatch('integer_divide', 'recommender')(dividend, divisor)) -}}
{% endmacro %}

{% macro default__integer_divide(dividend, divisor) %}
    {{- return("(" ~ dividend ~ ") / (" ~ divisor ~ ")") -}}
{% endmacro %}

{% macro duckdb__integer_divide(dividend, divisor) %}
    {{- return("(" ~ dividend ~ ") // (" ~ divisor ~ ")") -}}
{% endmacro %}

{% macro spark__integer_divide(dividend, divisor) %}
    {{- return("(" ~ dividend ~ ") div (" ~ divisor ~ ")") -}}
{% endmacro %}
