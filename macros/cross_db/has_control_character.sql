{#
    True when a text value holds a control character (C0: NUL, tab, line
    breaks...; DEL; C1): no id or category of ours may, because PostgreSQL
    text cannot store NUL and the others garble lists, logs and pages.
    Null stays null.
#}
{% macro has_control_character(expression) %}
    {{- return(adapter.dispatch('has_control_character', 'recommender')(expression)) -}}
{% endmacro %}


{#  POSIX regular expressions (PostgreSQL and most others). #}
{% macro default__has_control_character(expression) %}
    {{- return("(" ~ expression ~ " ~ '[[:cntrl:]]')") -}}
{% endmacro %}


{#  RE2 reads \x hex escapes in the pattern itself. #}
{% macro duckdb__has_control_character(expression) %}
    {{- return("regexp_matches(" ~ expression ~ ", '[\\x00-\\x1F\\x7F-\\x9F]')") -}}
{% endmacro %}


{#  Java regular expressions; Spark string literals unescape the backslash once. #}
{% macro spark__has_control_character(expression) %}
    {{- return("(" ~ expression ~ " rlike '[\\\\x00-\\\\x1F\\\\x7F-\\\\x9F]')") -}}
{% endmacro %}
