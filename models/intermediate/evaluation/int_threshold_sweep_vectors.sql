{#
    One row per sweep threshold and product: the norms of C's rows with the
    pairs below the threshold removed (the production macro, per threshold).
#}
with

pair_counts as (

    select * from {{ ref('int_threshold_sweep_pair_counts') }}

),

{% for threshold in sweep_thresholds() -%}
    pairs_{{ threshold }} as (

        select * from pair_counts
        where pair_count >= {{ threshold }}

    ),

    vectors_{{ threshold }} as (

        {{ product_vectors('pairs_' ~ threshold) }}

    ),

{% endfor -%}
final as (

    {% for threshold in sweep_thresholds() -%}
        {% if not loop.first %}union all

        {% endif -%}
        select
            cast({{ threshold }} as integer) as min_pair_count,
            product_key,
            co_product_count,
            pair_count_total,
            squared_norm,
            vector_norm
        from vectors_{{ threshold }}
    {% endfor %}

)

select * from final
