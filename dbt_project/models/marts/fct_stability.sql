{#-
  Stability index over the turnover window (12 months): of the people in post in a population
  at the start, the share still in it at the end. For an organisation, stability is staying
  in that organisation; system_stability_index is the share of its starters still anywhere in
  the system. For the system, stayers are those in post anywhere in the system at both ends.
-#}
with windows as (

    select * from {{ ref('int_membership_windows') }}
    where window_months = {{ var('turnover_window_months') }}

),

counts as (

    select
        end_date,
        period,
        level,
        org_code,
        staff_group,
        sum(case when in_start then 1 else 0 end) as headcount_start,
        sum(case when in_start and in_end then 1 else 0 end) as stayers,
        sum(case when in_start and in_system_at_end then 1 else 0 end) as stayers_in_system
    from windows
    group by end_date, period, level, org_code, staff_group

),

all_organisations as (

    select end_date, period, 'all_organisations' as level, 'ALL_ORGANISATIONS' as org_code, staff_group,
           sum(headcount_start) as headcount_start, sum(stayers) as stayers,
           sum(stayers_in_system) as stayers_in_system
    from counts
    where level = 'organisation'
    group by end_date, period, staff_group

),

final as (

    select
        cast(period as varchar) as period,
        cast(end_date as date) as period_start_date,
        cast({{ var('turnover_window_months') }} as integer) as window_months,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(staff_group as varchar) as staff_group,
        cast(headcount_start as bigint) as headcount_start,
        cast(stayers as bigint) as stayers,
        cast({{ safe_divide('stayers', 'headcount_start') }} as {{ type_double() }}) as stability_index,
        cast(stayers_in_system as bigint) as stayers_in_system,
        cast({{ safe_divide('stayers_in_system', 'headcount_start') }} as {{ type_double() }}) as system_stability_index
    from (select * from counts union all select * from all_organisations) as combined

)

select * from final
