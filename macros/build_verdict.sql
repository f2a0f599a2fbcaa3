{#
    The build records its own verdict in the database it builds, the way
    dbt-artifacts does (docs/robustness.md, "Which build is this?"):

      build_runs         one row per dbt command that builds or tests (written
                         at on-run-start): invocation id, start time, dbt and
                         project versions, command, selection, vars, input.
      build_run_inputs   one row per input file of that command: path, size,
                         modification time, SHA-256 when small enough.
      build_run_results  one row per node of the project per command (written
                         at on-run-end): its status in that command (null: not
                         selected), failures, message, when it was recorded.
      build_verdict      (view) one row per node of the project as of the
                         latest finished command: its latest recorded result.

    A command whose build_runs row has no build_run_results rows did not
    finish (killed, crashed): the readers treat that database as unverified.
    Only commands that build or test record (build, run, test, seed, snapshot):
    compile and docs would record "success" for tests they did not run.

    Plain create table / insert, types from dbt's cross-database macros, so the
    same records can be written on Spark; reading file facts is dispatched
    (input_file_facts). Nothing here reads the data beyond hashing a small
    input file.
#}

{#  Input files up to this size get a SHA-256 (DuckDB: ~0.25 s at the limit). #}
{% macro build_input_hash_max_bytes() %}
    {{- return(32 * 1024 * 1024) -}}
{% endmacro %}


{#
    The vars a build records, with the values it used: every var of
    dbt_project.yml (dbt has no way to list them from a macro;
    tests/python/test_build_verdict.py fails when one is missing here).
#}
{% macro build_recorded_var_names() %}
    {{- return([
        'sales_path', 'sales_relation', 'top_k', 'min_pair_count', 'min_similarity', 'similarity_measure',
        'similarity_shrinkage', 'asymmetric_alpha', 'rp3_alpha', 'rp3_beta',
        'similarity_engine', 'max_order_lines', 'max_largest_orders_pair_share',
        'max_rejected_share', 'min_same_category_lift', 'min_same_category_rate',
        'min_category_rate', 'min_category_products', 'evaluation_holdout_share',
        'evaluation_head_share', 'evaluation_measures', 'min_pair_count_sweep',
    ]) -}}
{% endmacro %}


{% macro build_records_this_command() %}
    {%- set command = invocation_args_dict.get('which') -%}
    {{- return(execute and command in ['build', 'run', 'test', 'seed', 'snapshot']) -}}
{% endmacro %}


{#  Spark's targets have no database (its relations are schema.identifier). #}
{% macro build_record_relation(name) %}
    {{- return(api.Relation.create(
        database=(target.database if target.database is defined else none),
        schema=target.schema, identifier=name, type='table'
    )) -}}
{% endmacro %}


{% macro build_timestamp_literal(value) %}
    {{- return("cast('" ~ value.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as "
        ~ dbt.type_timestamp() ~ ")") -}}
{% endmacro %}


{% macro build_number_literal(value) %}
    {{- return('null' if value is none else value | string) -}}
{% endmacro %}


{% macro create_build_record_tables() %}
    {%- set text = dbt.type_string() -%}
    {%- set bigint = dbt.type_bigint() -%}
    {%- set stamp = dbt.type_timestamp() -%}
    {%- do run_query(
        "create table if not exists " ~ build_record_relation('build_runs') ~ " ("
        ~ "invocation_id " ~ text ~ ", run_started_at " ~ stamp ~ ", dbt_version " ~ text
        ~ ", project_name " ~ text ~ ", project_version " ~ text ~ ", adapter_type " ~ text
        ~ ", command " ~ text ~ ", selection " ~ text ~ ", cli_vars " ~ text
        ~ ", vars " ~ text ~ ", sales_path " ~ text ~ ")"
    ) -%}
    {%- do run_query(
        "create table if not exists " ~ build_record_relation('build_run_inputs') ~ " ("
        ~ "invocation_id " ~ text ~ ", file_path " ~ text ~ ", size_bytes " ~ bigint
        ~ ", modified_at " ~ text ~ ", sha256 " ~ text ~ ")"
    ) -%}
    {%- do run_query(
        "create table if not exists " ~ build_record_relation('build_run_results') ~ " ("
        ~ "invocation_id " ~ text ~ ", unique_id " ~ text ~ ", resource_type " ~ text
        ~ ", node_name " ~ text ~ ", status " ~ text ~ ", failures " ~ bigint
        ~ ", message " ~ text ~ ", execution_time " ~ dbt.type_float()
        ~ ", recorded_at " ~ stamp ~ ")"
    ) -%}
{% endmacro %}


{#  on-run-start: the command, its vars and its input, before anything is built. #}
{% macro record_build_start(project_version) %}
    {%- if not build_records_this_command() -%}
        {{ return('') }}
    {%- endif -%}
    {%- do create_build_record_tables() -%}
    {%- set vars_used = {} -%}
    {%- for name in build_recorded_var_names() -%}
        {%- do vars_used.update({name: var(name, none)}) -%}
    {%- endfor -%}
    {%- set selection = {} -%}
    {%- for key in ['select', 'exclude', 'selector', 'empty', 'full_refresh'] -%}
        {%- if invocation_args_dict.get(key) -%}
            {%- do selection.update({key: invocation_args_dict.get(key)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set cli_vars = invocation_args_dict.get('vars') or {} -%}
    {%- if cli_vars is string -%}
        {%- set cli_vars = fromyaml(cli_vars) or {} -%}
    {%- endif -%}
    {%- set sales_path = var('sales_path', '') -%}
    {%- set values = [
        sql_text_literal(invocation_id), build_timestamp_literal(run_started_at),
        sql_text_literal(dbt_version), sql_text_literal(project_name),
        sql_text_literal(project_version), sql_text_literal(target.type),
        sql_text_literal(invocation_args_dict.get('which')),
        sql_text_literal(tojson(selection, sort_keys=true)),
        sql_text_literal(tojson(cli_vars, sort_keys=true)),
        sql_text_literal(tojson(vars_used, sort_keys=true)), sql_text_literal(sales_path),
    ] -%}
    {%- do run_query(
        "insert into " ~ build_record_relation('build_runs') ~ " values ("
        ~ values | join(', ') ~ ")"
    ) -%}
    {%- do record_build_inputs(sales_path) -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}


{% macro record_build_inputs(sales_path) %}
    {%- if sales_path -%}
        {%- set path = sales_path -%}
    {%- elif var('sales_relation', '') -%}
        {#- A table of the database: its name; no file facts. -#}
        {%- set path = var('sales_relation') -%}
    {%- else -%}
        {%- set seeds = graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed')
            | selectattr('name', 'equalto', 'raw_sales') | list -%}
        {%- set path = seeds[0].original_file_path if seeds else none -%}
    {%- endif -%}
    {%- if path is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set facts = default__input_file_facts(path, 0) if var('sales_relation', '') and not sales_path
        else input_file_facts(path, build_input_hash_max_bytes()) -%}
    {%- set rows = [] -%}
    {%- for file in facts -%}
        {%- do rows.append("(" ~ [
            sql_text_literal(invocation_id), sql_text_literal(file.file_path),
            build_number_literal(file.size_bytes), sql_text_literal(file.modified_at),
            sql_text_literal(file.sha256),
        ] | join(', ') ~ ")") -%}
    {%- endfor -%}
    {%- do run_query(
        "insert into " ~ build_record_relation('build_run_inputs') ~ " values "
        ~ rows | join(', ')
    ) -%}
{% endmacro %}


{#  on-run-end: every node of the project with what this command did to it. #}
{% macro record_build_verdict(results) %}
    {%- if not build_records_this_command() -%}
        {{ return('') }}
    {%- endif -%}
    {%- do create_build_record_tables() -%}
    {%- set recorded_at = build_timestamp_literal(modules.datetime.datetime.utcnow()) -%}
    {%- set by_node = {} -%}
    {%- for result in results if result.node is defined -%}
        {%- do by_node.update({result.node.unique_id: result}) -%}
    {%- endfor -%}
    {%- set nodes = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type in ['model', 'seed', 'snapshot', 'test'] -%}
        {%- do nodes.append(node) -%}
    {%- endfor -%}
    {%- do nodes.extend((graph.get('unit_tests') or {}).values()) -%}
    {%- set known = nodes | map(attribute='unique_id') | list -%}
    {%- for unique_id, result in by_node.items() if unique_id not in known -%}
        {%- do nodes.append(result.node) -%}
    {%- endfor -%}
    {%- set rows = [] -%}
    {%- for node in nodes -%}
        {%- set result = by_node.get(node.unique_id) -%}
        {%- do rows.append("(" ~ [
            sql_text_literal(invocation_id), sql_text_literal(node.unique_id),
            sql_text_literal(node.resource_type), sql_text_literal(node.name),
            sql_text_literal(result.status if result else none),
            build_number_literal(result.failures if result else none),
            sql_text_literal(result.message if result else none),
            build_number_literal(result.execution_time if result else none),
            recorded_at,
        ] | join(', ') ~ ")") -%}
    {%- endfor -%}
    {%- if rows -%}
        {%- do run_query(
            "insert into " ~ build_record_relation('build_run_results') ~ " values "
            ~ rows | join(', ')
        ) -%}
    {%- endif -%}
    {%- do run_query(build_verdict_view_sql()) -%}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}


{#
    The verdict of a database: every node of the project as of the latest
    finished command, with its latest recorded result, so a partial run
    (--select) changes only the nodes it ran. is_failure: that result is
    error or fail (a warn-severity test warns, it does not fail), or skipped
    (dbt skips a node when something upstream failed: what it builds or
    checks is missing or stale).
#}
{% macro build_verdict_view_sql() %}
    {%- set runs = build_record_relation('build_runs') -%}
    {%- set results = build_record_relation('build_run_results') -%}
    {{- return(
        "create or replace view " ~ build_record_relation('build_verdict') ~ " as"
        ~ " with finished as ("
        ~ "select runs.invocation_id, runs.run_started_at, max(results.recorded_at) as recorded_at"
        ~ " from " ~ runs ~ " as runs inner join " ~ results ~ " as results"
        ~ " on runs.invocation_id = results.invocation_id"
        ~ " group by runs.invocation_id, runs.run_started_at),"
        ~ " latest_run as ("
        ~ "select invocation_id from finished"
        ~ " where recorded_at = (select max(recorded_at) from finished)),"
        ~ " project_nodes as ("
        ~ "select unique_id, resource_type, node_name from " ~ results
        ~ " where invocation_id in (select invocation_id from latest_run)),"
        ~ " ranked as ("
        ~ "select results.*, row_number() over (partition by results.unique_id"
        ~ " order by results.recorded_at desc) as recency"
        ~ " from " ~ results ~ " as results where results.status is not null)"
        ~ " select project_nodes.unique_id, project_nodes.resource_type,"
        ~ " project_nodes.node_name, ranked.status, ranked.failures, ranked.message,"
        ~ " ranked.invocation_id, ranked.recorded_at,"
        ~ " coalesce(ranked.status in ('error', 'fail', 'skipped'), false) as is_failure"
        ~ " from project_nodes left join ranked"
        ~ " on project_nodes.unique_id = ranked.unique_id and ranked.recency = 1"
    ) -}}
{% endmacro %}
