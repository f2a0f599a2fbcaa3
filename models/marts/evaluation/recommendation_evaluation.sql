{#
    The hold-out evaluation (`make evaluate`; README "Choosing a measure"):
    one row per measure config of the evaluation_measures var, plus the
    popularity baseline (config 0), each fitted on the training orders only
    and scored on the held-out ones (int_evaluation_orders). For every seed
    (a product of a held-out order with at least two products):
      hit          one of its top_k recommendations is elsewhere in the order
      recall       the share of the order's other products recommended
      long-tail    a hit on a product outside the evaluation_head_share best-sellers
      covered      it has at least one recommendation
    averaged over all seeds (uncovered seeds count as misses), and over the
    catalogue: the share of training products recommended somewhere, and the
    tutorial's same-category rate of rank-1 recommendations with its lift.
#}
with

measures as (

    select * from {{ ref('int_evaluation_measures') }}

),

neighbours as (

    select
        config_id,
        product_key,
        recommended_product_key,
        recommendation_rank
    from {{ ref('int_evaluation_neighbours') }}
    {% if similarity_engine() == 'sparse' -%}
    union all
    select config_id, product_key, recommended_product_key, recommendation_rank
    from {{ ref('int_evaluation_neighbours_sparse') }}
    {%- endif %}

),

seeds as (

    select * from {{ ref('int_evaluation_seeds') }}

),

training_products as (

    select * from {{ ref('int_evaluation_training_products') }}

),

orders as (

    select * from {{ ref('int_evaluation_orders') }}

),

catalogue as (

    select * from {{ ref('int_products') }}

),

category_chances as (

    {{ category_chance_rates('catalogue') }}

),

seed_recommendations as (

    select
        neighbours.config_id,
        seeds.order_key,
        seeds.product_key,
        seeds.order_product_count,
        -- The recommendation is elsewhere in the seed's order.
        same_order.product_key is not null as is_hit,
        same_order.product_key is not null
        and not coalesce(training_products.is_best_seller, false) as is_long_tail_hit

    from seeds
    inner join neighbours on seeds.product_key = neighbours.product_key
    left join seeds as same_order
        on
            seeds.order_key = same_order.order_key
            and neighbours.recommended_product_key = same_order.product_key
    left join training_products
        on neighbours.recommended_product_key = training_products.product_key

),

seed_outcomes as (

    select
        config_id,
        order_key,
        product_key,
        max(case when is_hit then 1 else 0 end) as is_hit,
        max(case when is_long_tail_hit then 1 else 0 end) as is_long_tail_hit,
        cast(sum(case when is_hit then 1 else 0 end) as double)
        / (max(order_product_count) - 1) as recall

    from seed_recommendations
    group by config_id, order_key, product_key

),

seed_totals as (

    select
        config_id,
        sum(is_hit) as hit_count,
        sum(is_long_tail_hit) as long_tail_hit_count,
        sum(recall) as recall_total,
        count(*) as covered_seed_count
    from seed_outcomes
    group by config_id

),

catalogue_totals as (

    select
        neighbours.config_id,
        count(distinct neighbours.recommended_product_key) as recommended_product_count,
        sum(case when neighbours.recommendation_rank = 1 then 1 else 0 end)
            as products_with_recommendations,
        sum(
            case
                when neighbours.recommendation_rank = 1 and product.category = recommended.category
                    then 1
                else 0
            end
        ) as same_category_count,
        avg(
            case
                when
                    neighbours.recommendation_rank = 1
                    then category_chances.chance_same_category_rate
            end
        )
            as chance_same_category_rate

    from neighbours
    inner join catalogue as product on neighbours.product_key = product.product_key
    inner join
        catalogue as recommended
        on neighbours.recommended_product_key = recommended.product_key
    inner join category_chances on product.category = category_chances.category
    group by neighbours.config_id

),

split_totals as (

    select
        sum(case when is_holdout then 0 else 1 end) as training_order_count,
        sum(case when is_holdout then 1 else 0 end) as holdout_order_count,
        max(split_method) as split_method,
        (select count(*) from seeds) as seed_count,
        (select count(*) from training_products) as training_product_count
    from orders

),

final as (

    select
        measures.config_id,
        measures.measure,
        measures.parameters,
        measures.is_build_measure,
        cast({{ var('top_k') }} as integer) as k,
        split_totals.split_method,
        cast(split_totals.training_order_count as bigint) as training_order_count,
        cast(split_totals.holdout_order_count as bigint) as holdout_order_count,
        cast(split_totals.seed_count as bigint) as seed_count,
        cast(coalesce(seed_totals.hit_count, 0) as double)
        / nullif(split_totals.seed_count, 0) as hit_rate,
        coalesce(seed_totals.recall_total, 0) / nullif(split_totals.seed_count, 0) as recall,
        cast(coalesce(seed_totals.long_tail_hit_count, 0) as double)
        / nullif(split_totals.seed_count, 0) as long_tail_hit_rate,
        cast(coalesce(seed_totals.covered_seed_count, 0) as double)
        / nullif(split_totals.seed_count, 0) as seed_coverage,
        cast(coalesce(catalogue_totals.recommended_product_count, 0) as double)
        / nullif(split_totals.training_product_count, 0) as catalogue_coverage,
        cast(catalogue_totals.same_category_count as double)
        / nullif(catalogue_totals.products_with_recommendations, 0) as same_category_rate,
        cast(catalogue_totals.same_category_count as double)
        / nullif(catalogue_totals.products_with_recommendations, 0)
        / nullif(catalogue_totals.chance_same_category_rate, 0) as same_category_lift

    from measures
    cross join split_totals
    left join seed_totals on measures.config_id = seed_totals.config_id
    left join catalogue_totals on measures.config_id = catalogue_totals.config_id

)

select * from final
order by config_id
