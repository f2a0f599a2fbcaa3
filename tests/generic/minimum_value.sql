{#
    The column is at least `min_value`: in every group of `group_by` (each
    group's smallest value), or over the whole model when no group_by is
    given; only rows matching `row_condition` count. A group whose values are
    all null fails too (nothing to show it meets the threshold), and its
    message says so: "<column> is null (nothing was measured), so not
    min_value <x>".

    Returns one row per breaching group with a `message` naming the group, its
    value and the threshold, and the values of `context_columns` (e.g. what a
    ratio was computed from: "same_category_lift 0.98 is below min_value 2.0
    (micro_same_category_rate 0.0128, chance_same_category_rate 0.0131)"). dbt prints only a failing test's name and row
    count, so the messages are also logged while dbt runs the test, and the
    rows are kept when the test has `store_failures: true`.
#}
{% test minimum_value(model, column_name, min_value, group_by=none, row_condition=none, context_columns=[]) %}
    {%- if min_value is none or min_value is string and min_value | trim == '' -%}
        {{ exceptions.raise_compiler_error(
            "minimum_value on " ~ column_name ~ " needs min_value: the smallest allowed value."
        ) }}
    {%- endif -%}
    {%- if group_by is string -%}
        {{ exceptions.raise_compiler_error(
            "minimum_value on " ~ column_name ~ ": group_by must be a list of column names, "
            ~ "e.g. [" ~ group_by ~ "]."
        ) }}
    {%- endif -%}
    {%- if context_columns is string -%}
        {{ exceptions.raise_compiler_error(
            "minimum_value on " ~ column_name ~ ": context_columns must be a list of column "
            ~ "names, e.g. [" ~ context_columns ~ "]."
        ) }}
    {%- endif -%}
    {%- set groups = group_by or [] -%}
    {%- set context_labels = [] -%}
    {%- for column in context_columns -%}
        {%- do context_labels.append(
            "'" ~ column ~ " ' || coalesce(cast(round(cast(" ~ column ~ " as double), 4) as " ~ dbt.type_string() ~ "), 'null')"
        ) -%}
    {%- endfor -%}
    {%- set group_labels = [] -%}
    {%- set quote = sql_text_literal("'") -%}
    {%- for column in groups -%}
        {%- do group_labels.append(
            "'" ~ column ~ " ' || coalesce(" ~ quote ~ " || cast(" ~ column ~ " as "
            ~ dbt.type_string() ~ ") || " ~ quote ~ ", 'null')"
        ) -%}
    {%- endfor %}

    {%- set validation_sql %}
with

grouped as (

    select
        {% for column in groups %}{{ column }},
        {% endfor -%}
        min({{ column_name }}) as {{ column_name }},
        {% for column in context_columns %}min({{ column }}) as {{ column }},
        {% endfor -%}
        count(*) as row_count

    from {{ model }}
    {% if row_condition %}where {{ row_condition }}{% endif %}
    {% if groups %}group by {{ groups | join(', ') }}{% endif %}

),

validation_errors as (

    select
        *,
        cast({{ min_value }} as double) as min_value,
        {% if groups %}{{ group_labels | join(" || ', ' || ") }} || ': ' || {% endif -%}
        '{{ column_name }} '
        || case
            when {{ column_name }} is null then 'is null (nothing was measured), so not'
            else cast(round(cast({{ column_name }} as double), 4) as {{ dbt.type_string() }}) || ' is below'
        end
        || ' min_value ' || cast(cast({{ min_value }} as double) as {{ dbt.type_string() }})
        {% if context_labels %}|| ' (' || {{ context_labels | join(" || ', ' || ") }} || ')'{% endif %}
        {% if row_condition %}|| {{ sql_text_literal(' (rows where ' ~ row_condition ~ ')') }}{% endif %}
        as message

    from grouped
    where {{ column_name }} is null or {{ column_name }} < {{ min_value }}

)

select * from validation_errors
    {%- endset -%}

    {#- Surface the messages in dbt's output (only at run time, once the model exists). -#}
    {%- if execute and load_relation(model) is not none -%}
        {%- set breaches = run_query(
            "select message from (" ~ validation_sql ~ ") as breaches order by message"
        ) -%}
        {%- for message in breaches.columns[0].values() -%}
            {%- do log("minimum_value failed on " ~ model.identifier ~ ": " ~ message, info=true) -%}
        {%- endfor -%}
    {%- endif %}

{{ validation_sql }}
{% endtest %}
