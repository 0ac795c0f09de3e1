{#-
  Reasons for leaving from the leavers extract, by the month the assignment ended: people
  leaving each organisation (distinct people) by coded reason and its category, and for
  the system. UNKNOWN is a reason in its own right and is reported as such.
-#}
with leavers as (

    select * from {{ ref('stg_leavers') }}

),

reasons as (

    select code, label, category from {{ ref('leaving_reason') }}

),

levels as (

    select 'organisation' as level, org_code, period, period_start_date, person_id, leaving_reason from leavers
    union all
    select 'system' as level, 'SYSTEM' as org_code, period, period_start_date, person_id, leaving_reason from leavers

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
        cast(count(distinct levels.person_id) as bigint) as leavers
    from levels
    left join reasons on reasons.code = levels.leaving_reason
    group by levels.period, levels.period_start_date, levels.level, levels.org_code,
             levels.leaving_reason, reasons.category, reasons.label

)

select * from final
