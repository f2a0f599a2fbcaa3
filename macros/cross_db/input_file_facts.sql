{#
    What the build read: one dict per input file, {file_path, size_bytes,
    modified_at (ISO 8601 text), sha256 (hex)}, for the build verdict. The
    SHA-256 is taken only of files up to hash_max_bytes (reading is the cost:
    DuckDB hashes about 130 MB/s here); larger files get none. Nothing else of
    the data is read. Engines without a way to look at files get the path
    alone, the other facts null.
#}
{% macro input_file_facts(path, hash_max_bytes) %}
    {{- return(adapter.dispatch('input_file_facts', 'recommender')(path, hash_max_bytes)) -}}
{% endmacro %}


{% macro default__input_file_facts(path, hash_max_bytes) %}
    {{- return([{'file_path': path, 'size_bytes': none, 'modified_at': none, 'sha256': none}]) -}}
{% endmacro %}


{% macro duckdb__input_file_facts(path, hash_max_bytes) %}
    {#- read_blob reads a file's content only when the content column is asked for. -#}
    {%- set listed = run_query(
        "select filename, size, strftime(last_modified at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')"
        ~ " as modified_at from read_blob(" ~ sql_text_literal(path) ~ ") order by filename"
    ) -%}
    {%- set small = [] -%}
    {%- for row in listed.rows if row[1] <= hash_max_bytes -%}
        {%- do small.append(sql_text_literal(row[0])) -%}
    {%- endfor -%}
    {%- set digests = {} -%}
    {%- if small -%}
        {%- set hashed = run_query(
            "select filename, sha256(content) from read_blob([" ~ small | join(", ") ~ "])"
        ) -%}
        {%- for row in hashed.rows -%}
            {%- do digests.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set facts = [] -%}
    {%- for row in listed.rows -%}
        {%- do facts.append({
            'file_path': row[0], 'size_bytes': row[1], 'modified_at': row[2],
            'sha256': digests.get(row[0])
        }) -%}
    {%- endfor -%}
    {{- return(facts or default__input_file_facts(path, hash_max_bytes)) -}}
{% endmacro %}


{#  Spark's binaryFile source: size and time of each file; content read only to hash it. #}
{% macro spark__input_file_facts(path, hash_max_bytes) %}
    {%- set relation = "binaryFile.`" ~ (path | string) | replace('`', '``') ~ "`" -%}
    {%- set listed = run_query(
        "select path, length, date_format(to_utc_timestamp(modificationTime, current_timezone()),"
        ~ " \"yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'\") as modified_at from " ~ relation ~ " order by path"
    ) -%}
    {#- binaryFile skips the files a filter on length excludes without reading them. -#}
    {%- set hashed = run_query(
        "select path, sha2(content, 256) from " ~ relation ~ " where length <= " ~ hash_max_bytes
    ) -%}
    {%- set digests = {} -%}
    {%- for row in hashed.rows -%}
        {%- do digests.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set facts = [] -%}
    {%- for row in listed.rows -%}
        {%- do facts.append({
            'file_path': row[0], 'size_bytes': row[1], 'modified_at': row[2],
            'sha256': digests.get(row[0])
        }) -%}
    {%- endfor -%}
    {{- return(facts or default__input_file_facts(path, hash_max_bytes)) -}}
{% endmacro %}
