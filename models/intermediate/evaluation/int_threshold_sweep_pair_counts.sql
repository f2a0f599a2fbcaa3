{#
    C at the smallest threshold the sweep tries (macros/steps/sweep_thresholds.sql);
    every other threshold's C is this one with smaller counts removed. When
    that threshold is no lower than this build's min_pair_count, the
    production pair counts already hold it (a view over them); otherwise it
    is counted again with the production macro at the lower threshold.
#}
{%- set lowest = sweep_thresholds()[0] -%}
{%- set reuses_build = lowest >= var('min_pair_count') | int -%}
{{ config(materialized='view' if reuses_build else 'table') }}
with

{% if reuses_build -%}
    final as (

    -- depends_on: {{ ref('int_order_product_counts') }}, {{ ref('int_order_sizes') }}
        select * from {{ ref('int_product_pair_counts') }}
        where pair_count >= {{ lowest }}

    )
{%- else -%}
-- depends_on: {{ ref('int_product_pair_counts') }}
order_product_counts as (

    {{ counted_order_products(ref('int_order_product_counts'), ref('int_order_sizes')) }}

),

final as (

    {{ pair_counts('order_product_counts', lowest) }}

)
{%- endif %}

select * from final
