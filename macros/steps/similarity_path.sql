{#
    Which models compute this build's top-k (int_product_* and the sweep):
      'sparse'      second_order_cosine with the sparse engine (a Python model)
      'sql'         second_order_cosine with the sql engine (all pairs in SQL)
      'first_order' any other measure: a formula over the pair counts, in SQL
    Python models cannot call macros in their YAML config, so
    int_product_neighbours_sparse's `enabled` spells the 'sparse' case out.
#}
{% macro similarity_path() %}
    {#- Checked here too: models read this while dbt parses, before validate_vars runs. -#}
    {%- if var('similarity_engine') not in ['sparse', 'sql'] -%}
        {{ exceptions.raise_compiler_error(
            "var similarity_engine must be 'sparse' or 'sql', got '" ~ var('similarity_engine') ~ "'."
        ) }}
    {%- endif -%}
    {%- if similarity_measure(var('similarity_measure'))['order'] == 'first' -%}
        {{ return('first_order') }}
    {%- endif -%}
    {{ return(similarity_engine()) }}
{% endmacro %}
