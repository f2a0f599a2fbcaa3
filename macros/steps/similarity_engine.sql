{#
    The engine this build uses for the second-order cosine: the
    similarity_engine var, except on Spark, where dbt cannot run Python models
    (dbt-spark runs them on Databricks only): there the sparse engine is
    replaced by the sql engine, which gives the same recommendations
    (docs/spark.md). Python models cannot call macros in their YAML config, so
    the sparse models' `enabled` spells the Spark case out.
#}
{% macro similarity_engine() %}
    {%- set engine = var('similarity_engine') -%}
    {%- if engine == 'sparse' and target.type == 'spark' -%}
        {{- return('sql') -}}
    {%- endif -%}
    {{- return(engine) -}}
{% endmacro %}
