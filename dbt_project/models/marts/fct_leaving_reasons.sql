{#-
  Reasons for leaving from the leavers extract, by the month the assignment ended: people
  leaving each organisation (distinct people) by coded reason and its category, and those
  counts added up over all organisations (level all_organisations, as in fct_turnover).
  UNKNOWN is a reason in its own right and is reported as such.
  There is no system row: the extract records leaving an organisation, and someone who
  leaves one organisation for another of the system has not left the system (DOMAIN.md), so
  the organisations' leavers added up are organisation leavers, not system leavers;
  fct_turnover has the system's leavers, by census comparison.
-#}
with leavers as (

    select * from {{ ref('stg_leavers') }}

),

reasons as (

    select code, label, category from {{ ref('leaving_reason') }}

),

organisation_level as (

    select
        'organisation' as level,
        leavers.org_code,
        leavers.period,
        leavers.period_start_date,
        leavers.leaving_reason,
        count(distinct leavers.person_id) as leavers
    from leavers
    group by leavers.org_code, leavers.period, leavers.period_start_date, leavers.leaving_reason

),

levels as (

    select * from organisation_level
    union all
    select
        'all_organisations' as level,
        'ALL_ORGANISATIONS' as org_code,
        period,
        period_start_date,
        leaving_reason,
        sum(leavers) as leavers
    from organisation_level
    group by period, period_start_date, leaving_reason

),

final as (

    select
        cast(levels.period as varchar) as period,
        cast(levels.period_start_date as date) as period_start_date,
        cast(levels.level as varchar) as level,
        cast(levels.org_code as varchar) as org_code,
        cast(levels.leaving_reason as varchar) as leaving_reason,
        cast(coalesce(reasons.category, 'UNKNOWN') as varchar) as reason_category,
        cast(coalesce(reasons.label, levels.leaving_reason) as varchar) as reason_label,
        cast(levels.leavers as bigint) as leavers
    from levels
    left join reasons on reasons.code = levels.leaving_reason

)

select * from final
