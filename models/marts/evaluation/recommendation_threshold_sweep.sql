{#
    The tutorial's threshold advice, built (`make evaluate`): one row per
    min_pair_count the sweep tries (macros/steps/sweep_thresholds.sql) with
    the validation figures a build with that min_pair_count gets: every
    product's rank-1 recommendation recomputed on C with the smaller pair
    counts removed (int_threshold_sweep_neighbours*, the production macros
    and engine), summarized with the validation's own arithmetic
    (macros/same_category_totals.sql), so the row at this build's
    min_pair_count equals recommendation_validation_overall.
#}
{%- set path = similarity_path() -%}
with

neighbours as (

    {% if path == 'sparse' -%}
        select * from {{ ref('int_threshold_sweep_neighbours_sparse') }}
    {%- else -%}
        select * from {{ ref('int_threshold_sweep_neighbours') }}
    {%- endif %}

),

products as (

    select * from {{ ref('int_products') }}

),

pair_counts as (

    select * from {{ ref('int_threshold_sweep_pair_counts') }}

),

category_chances as (

    {{ category_chance_rates('products') }}

),

thresholds as (

    {% for threshold in sweep_thresholds() -%}
        {% if not loop.first %}union all
        {% endif -%}
        select cast({{ threshold }} as integer) as min_pair_count
    {% endfor %}

),

product_outcomes as (

    select
        thresholds.min_pair_count,
        products.product_id,
        products.category,
        neighbours.product_key is not null as has_recommendation,
        coalesce(products.category = recommended.category, false) as is_same_category,
        category_chances.chance_same_category_rate

    from thresholds
    cross join products
    inner join category_chances on products.category = category_chances.category
    left join neighbours
        on
            thresholds.min_pair_count = neighbours.min_pair_count
            and products.product_key = neighbours.product_key
    left join products as recommended
        on neighbours.recommended_product_key = recommended.product_key

),

totals as (

    {{ same_category_totals('product_outcomes', ['min_pair_count']) }}

),

pairs_kept as (

        -- int_threshold_sweep_pair_counts stores each unordered pair twice.
    {% for threshold in sweep_thresholds() -%}
        {% if not loop.first %}union all
        {% endif -%}
        select
            cast({{ threshold }} as integer) as min_pair_count,
            cast(count(*) / 2 as bigint) as pair_count
        from pair_counts
        where pair_count >= {{ threshold }}
    {% endfor %}

),

final as (

    select
        totals.min_pair_count,
        totals.min_pair_count = {{ var('min_pair_count') | int }} as is_current_min_pair_count,
        pairs_kept.pair_count,
        totals.category_count,
        totals.rated_category_count,
        totals.product_count,
        totals.same_category_count,
        totals.products_without_recommendations,
        totals.micro_same_category_rate,
        totals.macro_same_category_rate,
        totals.coverage,
        totals.chance_same_category_rate,
        totals.same_category_lift

    from totals
    inner join pairs_kept on totals.min_pair_count = pairs_kept.min_pair_count

)

select * from final
order by min_pair_count
