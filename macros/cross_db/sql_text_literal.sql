{#
    A text value as a SQL string literal, for values written into SQL by macros
    (the build verdict's messages and paths). Standard SQL doubles the quote;
    Spark SQL reads backslash escapes in literals, so it escapes those too.
#}
{% macro sql_text_literal(value) %}
    {{- return(adapter.dispatch('sql_text_literal', 'recommender')(value)) -}}
{% endmacro %}


{% macro default__sql_text_literal(value) %}
    {%- if value is none -%}
        {{- return('null') -}}
    {%- endif -%}
    {{- return("'" ~ (value | string | replace("'", "''")) ~ "'") -}}
{% endmacro %}


{% macro spark__sql_text_literal(value) %}
    {%- if value is none -%}
        {{- return('null') -}}
    {%- endif -%}
    {{- return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") -}}
{% endmacro %}
