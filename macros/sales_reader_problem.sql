{#
    Readers that keep the lines they cannot parse among the others (Spark's:
    macros/sales_source_spark.sql) say why (sales_reader_problem) and give
    their text (sales_reader_raw_line); staging rejects those lines. DuckDB's
    reader keeps them apart (its post-hook adds them): null here.
#}
{% macro sales_reader_problem() %}
    {{- return(adapter.dispatch('sales_reader_problem', 'recommender')()) -}}
{% endmacro %}


{% macro default__sales_reader_problem() %}
    {{- return('cast(null as ' ~ dbt.type_string() ~ ')') -}}
{% endmacro %}


{% macro sales_reader_raw_line() %}
    {{- return(adapter.dispatch('sales_reader_raw_line', 'recommender')()) -}}
{% endmacro %}


{% macro default__sales_reader_raw_line() %}
    {{- return('cast(null as ' ~ dbt.type_string() ~ ')') -}}
{% endmacro %}
