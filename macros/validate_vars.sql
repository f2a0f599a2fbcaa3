{#
    Vars are data: every var the models use is checked (type and range) before
    anything runs (on-run-start in dbt_project.yml), and all problems are
    reported at once with what to do. Models may then paste the numbers into
    SQL; sales_path only ever reaches SQL as a quoted literal (sales_source).
    Vars another part of the project adds later are checked only when defined.
#}
{% macro validate_vars() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set problems = [] -%}
    {%- do check_text_var(problems, 'sales_path') -%}
    {%- do check_text_var(problems, 'sales_relation') -%}
    {%- do check_sales_relation_var(problems) -%}
    {%- do check_choice_var(problems, 'similarity_engine', ['sparse', 'sql']) -%}
    {%- do check_choice_var(problems, 'similarity_measure', similarity_measure_names()) -%}
    {%- for name, range in similarity_measure_parameters().items() -%}
        {%- do check_number_var(problems, name, range[0], range[1]) -%}
    {%- endfor -%}
    {%- do check_integer_var(problems, 'top_k', 1, 1000) -%}
    {%- do check_integer_var(problems, 'min_pair_count', 1, none) -%}
    {%- do check_number_var(problems, 'min_similarity', 0, 1, upper_inclusive=false) -%}
    {%- do check_integer_var(problems, 'max_order_lines', 0, none) -%}
    {%- do check_number_var(problems, 'max_largest_orders_pair_share', 0, 1) -%}
    {%- do check_number_var(problems, 'min_same_category_lift', 0, none) -%}
    {%- do check_number_var(problems, 'max_rejected_share', 0, 1) -%}
    {%- do check_number_var(problems, 'min_same_category_rate', 0, 1) -%}
    {%- do check_number_var(problems, 'min_category_rate', 0, 1) -%}
    {%- do check_integer_var(problems, 'min_category_products', 0, none) -%}
    {%- do check_number_var(
        problems, 'evaluation_holdout_share', 0, 1, upper_inclusive=false, lower_inclusive=false
    ) -%}
    {%- do check_number_var(problems, 'evaluation_head_share', 0, 1, upper_inclusive=false) -%}
    {%- do check_evaluation_measures(problems) -%}
    {%- set sweep = var('min_pair_count_sweep', none) -%}
    {%- if sweep is not none -%}
        {%- if sweep is string or sweep is not iterable or sweep is mapping or sweep | length == 0 -%}
            {%- do problems.append(
                "min_pair_count_sweep must be a non-empty list of whole numbers >= 1, got "
                ~ describe_var_value(sweep)
            ) -%}
        {%- else -%}
            {%- for value in sweep if not (value is integer and value is not boolean and value >= 1) -%}
                {%- do problems.append(
                    "min_pair_count_sweep must contain whole numbers >= 1, got "
                    ~ describe_var_value(value)
                ) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "Invalid var(s):\n  - " ~ problems | join("\n  - ")
            ~ "\nFix them in --vars (e.g. --vars '{top_k: 5}') or in dbt_project.yml;"
            ~ " README 'Configuration' lists every var and its range."
        ) }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{% macro describe_var_value(value) %}
    {%- if value is string -%}
        {%- set kind = 'text' -%}
    {%- elif value is boolean -%}
        {%- set kind = 'true/false' -%}
    {%- elif value is number -%}
        {%- set kind = 'number' -%}
    {%- elif value is mapping -%}
        {%- set kind = 'mapping' -%}
    {%- elif value is none -%}
        {%- set kind = 'empty' -%}
    {%- else -%}
        {%- set kind = 'list' -%}
    {%- endif -%}
    {{- return(tojson(value) ~ " (" ~ kind ~ ")") -}}
{% endmacro %}


{% macro check_integer_var(problems, name, min_value, max_value) %}
    {%- set value = var(name, none) -%}
    {%- if value is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set range_text = ">= " ~ min_value if max_value is none
        else "between " ~ min_value ~ " and " ~ max_value -%}
    {%- if not (value is integer and value is not boolean) -%}
        {%- do problems.append(
            name ~ " must be a whole number " ~ range_text ~ ", got " ~ describe_var_value(value)
        ) -%}
    {%- elif value < min_value or (max_value is not none and value > max_value) -%}
        {%- do problems.append(name ~ " must be " ~ range_text ~ ", got " ~ value) -%}
    {%- endif -%}
{% endmacro %}


{% macro check_number_var(
    problems, name, min_value, max_value, upper_inclusive=true, lower_inclusive=true, value=none
) %}
    {%- set value = var(name, none) if value is none else value -%}
    {%- if value is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- if max_value is none -%}
        {%- set range_text = (">= " if lower_inclusive else "> ") ~ min_value -%}
    {%- else -%}
        {%- set range_text = "from " ~ min_value ~ ("" if lower_inclusive else " (excluded)")
            ~ " to " ~ max_value ~ ("" if upper_inclusive else " (excluded)") -%}
    {%- endif -%}
    {%- if not (value is number and value is not boolean) -%}
        {%- do problems.append(
            name ~ " must be a number " ~ range_text ~ ", got " ~ describe_var_value(value)
        ) -%}
    {%- elif value != value or value < min_value
        or (max_value is not none and value > max_value)
        or (not upper_inclusive and value == max_value)
        or (not lower_inclusive and value == min_value) -%}
        {%- do problems.append(name ~ " must be " ~ range_text ~ ", got " ~ value) -%}
    {%- endif -%}
{% endmacro %}


{#
    evaluation_measures: a non-empty list whose entries are a measure name or
    a mapping {measure: name, <parameter>: value, ...} naming only parameters
    that measure reads, each in its range.
#}
{% macro check_evaluation_measures(problems) %}
    {%- set entries = var('evaluation_measures', none) -%}
    {%- if entries is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set example = " e.g. [second_order_cosine, {measure: asymmetric_cosine, asymmetric_alpha: 0.8}]" -%}
    {%- if entries is string or entries is mapping or entries is not iterable or entries | length == 0 -%}
        {%- do problems.append(
            "evaluation_measures must be a non-empty list of measures," ~ example
            ~ ", got " ~ describe_var_value(entries)
        ) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set names = similarity_measure_names() -%}
    {%- set ranges = similarity_measure_parameters() -%}
    {%- for entry in entries -%}
        {%- set spec = entry if entry is mapping else {'measure': entry} -%}
        {%- set where = "evaluation_measures entry " ~ loop.index -%}
        {%- if spec.get('measure') not in names -%}
            {%- do problems.append(
                where ~ ": measure must be one of " ~ names | join(', ') ~ ", got "
                ~ describe_var_value(spec.get('measure'))
            ) -%}
        {%- else -%}
            {%- set reads = similarity_measure(spec['measure'])['parameters'] -%}
            {%- for key, value in spec.items() if key != 'measure' -%}
                {%- if key not in reads -%}
                    {%- do problems.append(
                        where ~ ": " ~ spec['measure'] ~ " has no parameter " ~ key
                        ~ " (it reads " ~ reads | join(', ') ~ ")"
                    ) -%}
                {%- else -%}
                    {%- do check_number_var(
                        problems, where ~ " " ~ key, ranges[key][0], ranges[key][1], value=value
                    ) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}


{% macro check_choice_var(problems, name, choices) %}
    {%- set value = var(name, none) -%}
    {%- if value is not none and value not in choices -%}
        {%- do problems.append(
            name ~ " must be one of " ~ choices | join(', ') ~ ", got " ~ describe_var_value(value)
        ) -%}
    {%- endif -%}
{% endmacro %}


{% macro check_text_var(problems, name) %}
    {%- set value = var(name, none) -%}
    {%- if value is not none and value is not string -%}
        {%- do problems.append(
            name ~ " must be text (a file path or glob), got " ~ describe_var_value(value)
        ) -%}
    {%- elif value and (value | length > 4096 or '\x00' in value) -%}
        {%- do problems.append(name ~ " is not a usable file path (too long or has a NUL byte)") -%}
    {%- endif -%}
{% endmacro %}


{#  sales_relation reaches SQL as a name: [schema.]table, letters, digits and _ only. #}
{% macro check_sales_relation_var(problems) %}
    {%- set relation = var('sales_relation', '') -%}
    {%- if not relation -%}
        {{ return('') }}
    {%- endif -%}
    {%- if relation is not string
        or not modules.re.fullmatch('[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*){0,2}', relation) -%}
        {%- do problems.append(
            "sales_relation must name a table as [catalog.][schema.]table (letters, digits, _), got "
            ~ describe_var_value(relation)
        ) -%}
    {%- elif var('sales_path', '') -%}
        {%- do problems.append(
            "set sales_path (a file) or sales_relation (a table), not both: got sales_path "
            ~ describe_var_value(var('sales_path')) ~ " and sales_relation '" ~ relation ~ "'"
        ) -%}
    {%- endif -%}
{% endmacro %}
