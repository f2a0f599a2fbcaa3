-- Scores are above 0 (and min_similarity), at most the measure's upper bound
-- (macros/measures/: 1 for the cosines and jaccard, none for lift,
-- co_occurrence and rp3beta), and never increase with rank.
{%- set measure = similarity_measure(var('similarity_measure')) %}
with

recommendations as (

    select * from {{ ref('product_recommendations') }}

),

ranked as (

    select
        *,
        lag(similarity) over (
            partition by product_id order by recommendation_rank
        ) as previous_similarity

    from recommendations

),

validation_errors as (

    select *
    from ranked
    where
        similarity <= {{ min_similarity_floor() }}
        {% if measure['upper_bound'] is not none -%}
        -- Rounding can put an exact 1 a few ulps above it.
            or similarity > {{ measure['upper_bound'] }} + 1e-12
        {% endif -%}
        or similarity > previous_similarity
        or similarity_measure != '{{ var("similarity_measure") }}'

)

select * from validation_errors
