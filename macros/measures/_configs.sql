{#
    A measure "config": one measure with the values of its parameters, e.g.
    asymmetric_cosine with asymmetric_alpha 0.8 and similarity_shrinkage 10.
    The build uses one (the similarity_measure var and the parameter vars);
    the hold-out evaluation compares several (the evaluation_measures var:
    each entry a measure name, or a mapping {measure: name, <parameter>: value}
    whose missing parameters take the vars' values).

    Returns {'measure', 'order', 'parameters': {name: float}, 'label'}; label
    names every parameter the measure reads, e.g.
    "asymmetric_alpha=0.8, similarity_shrinkage=10". validate_vars has checked
    names and ranges before any model renders this.
#}
{% macro measure_config(entry) %}
    {%- set spec = entry if entry is mapping else {'measure': entry} -%}
    {%- set info = similarity_measure(spec['measure']) -%}
    {%- set parameters = {} -%}
    {%- set labels = [] -%}
    {%- for name in info['parameters'] -%}
        {%- set value = (spec[name] if name in spec else var(name)) | float -%}
        {%- do parameters.update({name: value}) -%}
        {%- do labels.append(name ~ '=' ~ format_number(value)) -%}
    {%- endfor -%}
    {{- return({
        'measure': spec['measure'],
        'order': info['order'],
        'parameters': parameters,
        'label': labels | join(', '),
    }) -}}
{% endmacro %}


{#  This build's config: the similarity_measure var with the parameter vars. #}
{% macro build_measure_config() %}
    {{- return(measure_config(var('similarity_measure'))) -}}
{% endmacro %}


{#
    The evaluation_measures var as configs, numbered from 1 in the var's order.
    While dbt parses, entries naming no known measure are passed over, so that
    validate_vars (which runs before any model) reports every bad entry at once.
#}
{% macro evaluation_measure_configs() %}
    {%- set configs = [] -%}
    {%- for entry in var('evaluation_measures') -%}
        {%- set name = entry.get('measure') if entry is mapping else entry -%}
        {%- if not execute and name not in similarity_measure_names() -%}
            {%- continue -%}
        {%- endif -%}
        {%- set config = measure_config(entry) -%}
        {%- do config.update({'config_id': loop.index}) -%}
        {%- do configs.append(config) -%}
    {%- endfor -%}
    {{- return(configs) -}}
{% endmacro %}


{#  A number as people write it: 0.8, 10, 0.0001 (Python's %g, 15 significant digits). #}
{% macro format_number(value) %}
    {{- return('%.15g' | format(value | float)) -}}
{% endmacro %}
