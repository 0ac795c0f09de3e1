{#-
  Staff in post at each census: headcount (distinct people), FTE (summed over assignments)
  and role count (assignments), for each organisation and for the system, in total and by
  staff group, harmonised role, pay band, sector and contract type. Each figure is computed
  from the assignments at its own level and breakdown, never summed from lower levels.
-#}
{%- set dimensions = ['staff_group', 'harmonised_role', 'pay_band', 'sector', 'contract_type'] %}

with assignments as (

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

),

levels as (

    select 'organisation' as level, org_code, period, period_start_date, person_id, fte,
           {{ dimensions | join(', ') }}
    from assignments
    union all
    select 'system' as level, 'SYSTEM' as org_code, period, period_start_date, person_id, fte,
           {{ dimensions | join(', ') }}
    from assignments

),

breakdowns as (

    select level, org_code, period, period_start_date,
           'total' as dimension, 'ALL' as dimension_value,
           count(distinct person_id) as headcount, sum(fte) as fte, count(*) as role_count
    from levels
    group by level, org_code, period, period_start_date
    {% for d in dimensions %}
    union all
    select level, org_code, period, period_start_date,
           '{{ d }}' as dimension, coalesce({{ d }}, 'NOT_RECORDED') as dimension_value,
           count(distinct person_id) as headcount, sum(fte) as fte, count(*) as role_count
    from levels
    group by level, org_code, period, period_start_date, coalesce({{ d }}, 'NOT_RECORDED')
    {% endfor %}

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(dimension as varchar) as dimension,
        cast(dimension_value as varchar) as dimension_value,
        cast(headcount as bigint) as headcount,
        cast(fte as double) as fte,
        cast(role_count as bigint) as role_count
    from breakdowns

)

select * from final
