{#
    The measure configs the hold-out evaluation compares: the
    evaluation_measures var, numbered from 1 in its order, with the values of
    their parameters (macros/measures/_configs.sql), and config 0, the
    popularity baseline. The Python fit reads its configs from here.
#}
{%- set build = build_measure_config() -%}
with

final as (

    select
        0 as config_id,
        'popularity' as measure,
        '' as parameters,  -- noqa: RF04
        'baseline' as measure_order,
        cast(null as double) as similarity_shrinkage,
        false as is_build_measure
    {% for config in evaluation_measure_configs() %}
        {%- set config_is_build = config['measure'] == build['measure']
            and config['label'] == build['label'] %}
        union all
        select
            {{ config['config_id'] }} as config_id,
            '{{ config["measure"] }}' as measure,
            '{{ config["label"] }}' as parameters,  -- noqa: RF04
            '{{ config["order"] }}' as measure_order,
            {{ config['parameters']['similarity_shrinkage'] }} as similarity_shrinkage,
            {{ config_is_build | lower }} as is_build_measure
    {% endfor %}

)

select
    cast(config_id as integer) as config_id,
    measure,
    parameters,
    measure_order,
    cast(similarity_shrinkage as double) as similarity_shrinkage,
    is_build_measure
from final
