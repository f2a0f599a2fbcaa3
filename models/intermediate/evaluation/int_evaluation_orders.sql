{#
    The hold-out split (README "Choosing a measure"): which orders the
    evaluation fits on and which it scores. When the sales have an
    order_date, the latest orders make up evaluation_holdout_share of them,
    as a model put in production would be judged on the orders after its
    fit; without dates, a hash of order_id picks them, the same on every run
    and engine. Orders max_order_lines leaves out of pair counting are
    neither fitted on nor scored.
#}
{%- set share = var('evaluation_holdout_share') | float -%}
with

order_sizes as (

    select * from {{ ref('int_order_sizes') }}
    where not is_excluded_from_pairs

),

order_dates as (

    select
        order_id,
        max(order_date) as order_date
    from {{ ref('stg_sales__lines') }}
    where rejection_reason is null
    group by order_id

),

orders as (

    select
        order_sizes.order_key,
        order_sizes.order_id,
        order_dates.order_date,
        -- The first 8 hex digits of md5(order_id): a uniform number in [0, 2^32).
        substr({{ dbt.hash('order_sizes.order_id') }}, 1, 8) as order_hash

    from order_sizes
    inner join order_dates on order_sizes.order_id = order_dates.order_id

),

split as (

    select
        *,
        count(order_date) over () > 0 as has_order_dates,
        row_number() over (
            order by order_date desc nulls last, order_hash asc, order_id asc
        ) as recency_rank,
        count(*) over () as order_total

    from orders

),

final as (

    select
        order_key,
        order_id,
        order_date,
        case
            when has_order_dates
                then recency_rank <= round({{ share }} * order_total)
            -- Hash below share * 2^32: that share of orders, in expectation.
            else order_hash < '{{ "%08x" | format((share * 4294967296) | int) }}'
        end as is_holdout,
        case when has_order_dates then 'order_date' else 'order_id_hash' end as split_method

    from split

)

select * from final
