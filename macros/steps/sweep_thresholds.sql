{#
    The min_pair_count values the threshold sweep tries: the
    min_pair_count_sweep var's, plus this build's own, sorted, distinct.
#}
{% macro sweep_thresholds() %}
    {%- set values = [var('min_pair_count') | int] -%}
    {%- for value in var('min_pair_count_sweep') if value | int not in values -%}
        {%- do values.append(value | int) -%}
    {%- endfor -%}
    {{- return(values | sort) -}}
{% endmacro %}
