{#
    Every value of the column lies in [min_value, max_value] (bounds optional;
    `inclusive: false` makes them strict). Returns the rows outside.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true, row_condition=none) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error(
            "accepted_range on " ~ column_name ~ " needs min_value, max_value or both."
        ) }}
    {%- endif -%}
    {%- set low = '>=' if inclusive else '>' -%}
    {%- set high = '<=' if inclusive else '<' -%}

with

validation_errors as (

    select *
    from {{ model }}
    where
        not (
            {{ column_name }} is not null
            {% if min_value is not none %}and {{ column_name }} {{ low }} {{ min_value }}{% endif %}
            {% if max_value is not none %}and {{ column_name }} {{ high }} {{ max_value }}{% endif %}
        )
        {% if row_condition %}and {{ row_condition }}{% endif %}

)

select * from validation_errors
{% endtest %}
