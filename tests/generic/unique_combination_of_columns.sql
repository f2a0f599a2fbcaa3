{#
    Grain test: no two rows share the values of `combination_of_columns`.
    Returns one row per duplicated combination, with how often it occurs.
#}
{% test unique_combination_of_columns(model, combination_of_columns, row_condition=none) %}
    {%- if combination_of_columns is string or combination_of_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "unique_combination_of_columns needs combination_of_columns: a list of column names."
        ) }}
    {%- endif -%}
    {%- set columns = combination_of_columns | join(', ') -%}

with

validation_errors as (

    select
        {{ columns }},
        count(*) as occurrences
    from {{ model }}
    {% if row_condition %}where {{ row_condition }}{% endif %}
    group by {{ columns }}
    having count(*) > 1

)

select * from validation_errors
{% endtest %}
