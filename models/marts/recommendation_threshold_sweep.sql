{#
    The tutorial's threshold advice, built: one row per value of the
    min_pair_count_sweep var (plus this build's own min_pair_count) with the
    validation metric a build with that min_pair_count gets. This build's row
    comes from its own per-product outcomes, with the same arithmetic as
    recommendation_validation_overall (macros/same_category_totals.sql), and
    not from that model, so a failing validation gate, when the sweep is most
    useful, does not skip it. The other rows are recomputed by
    int_threshold_sweep_recomputed, which runs alongside the cosine engine
    and counts pairs on its own (scipy, X^T X): at this build's
    min_pair_count its count must be int_product_pair_counts exactly, or this
    model fails, naming both counts, instead of publishing a skewed sweep.
#}
with

recomputed as (

    select * from {{ ref('int_threshold_sweep_recomputed') }}

),

product_outcomes as (

    select * from {{ ref('recommendation_validation_products') }}

),

this_build as (

    {{ same_category_totals('product_outcomes') }}

),

this_build_pairs as (

    select
        pair_count,
        pair_count_total
    from recomputed
    where min_pair_count = {{ var('min_pair_count') }}

),

pipeline_pairs as (

    -- int_product_pair_counts stores each unordered pair twice.
    select
        count(*) // 2 as pair_count,
        coalesce(sum(pair_count), 0) // 2 as pair_count_total
    from {{ ref('int_product_pair_counts') }}

),

pair_count_check as (

    select
        case
            when
                coalesce(this_build_pairs.pair_count, -1) != pipeline_pairs.pair_count
                or coalesce(this_build_pairs.pair_count_total, -1)
                != pipeline_pairs.pair_count_total
                then error(
                    'int_threshold_sweep_recomputed counts '
                    || coalesce(cast(this_build_pairs.pair_count as varchar), 'no')
                    || ' pairs (total '
                    || coalesce(cast(this_build_pairs.pair_count_total as varchar), '-')
                    || ') at min_pair_count {{ var("min_pair_count") }}, int_product_pair_counts '
                    || cast(pipeline_pairs.pair_count as varchar)
                    || ' (total ' || cast(pipeline_pairs.pair_count_total as varchar)
                    || '): the sweep no longer counts pairs as the pipeline does. Update'
                    || ' co_occurrence() in models/intermediate/int_threshold_sweep_recomputed.py.'
                )
        end as failure
    from pipeline_pairs
    left join this_build_pairs on true

),

sweep as (

    select
        min_pair_count,
        false as is_current_min_pair_count,
        pair_count,
        category_count,
        rated_category_count,
        product_count,
        same_category_count,
        products_without_recommendations,
        micro_same_category_rate,
        macro_same_category_rate,
        coverage
    from recomputed
    where min_pair_count != {{ var('min_pair_count') }}

    union all

    select
        cast({{ var('min_pair_count') }} as integer) as min_pair_count,
        true as is_current_min_pair_count,
        this_build_pairs.pair_count,
        this_build.category_count,
        this_build.rated_category_count,
        this_build.product_count,
        this_build.same_category_count,
        this_build.products_without_recommendations,
        this_build.micro_same_category_rate,
        this_build.macro_same_category_rate,
        this_build.coverage
    from this_build
    cross join this_build_pairs

),

final as (

    -- Evaluating the check raises its error; otherwise it counts no failure.
    select * from sweep
    where (select count(pair_count_check.failure) from pair_count_check) = 0

)

select * from final
order by min_pair_count
