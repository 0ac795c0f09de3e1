{#-
  Leavers, joiners and their rates over 1 and 12 months, for each organisation, the system,
  and all organisations together, in total and by staff group.
  - Leavers: in post in the population at the start census and not at the end census;
    joiners the reverse (NHS census-comparison method). A move to another organisation of
    the system makes an organisation leaver who is a system stayer
    (leavers_staying_in_system); changing staff group makes a leaver from that staff group.
  - Rates (method nhs_average_headcount): leavers or joiners / average of the start and end
    headcounts.
  - Social care organisations also get the Skills for Care method
    (skills_for_care_current_staff): leavers / headcount at the end. Methods are never mixed
    in one row.
  - all_organisations: the organisation-level counts added up: moves between organisations
    count as leavers here but not at system level.
  Built by window in the monthly build (macros/incremental.sql): only the windows with a
  changed staff in post month at either census are derived again.
-#}
{%- set extracts = ['staff_in_post'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed_whole_windows(['staff_in_post']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['staff_in_post']) }}"],
) }}
with windows as (

    select * from {{ ref('int_membership_windows') }} as w
    where {{ in_changed_windows('w.end_date', 'w.window_months', extracts) }}

),

organisations as (

    select org_code, sector from {{ source('governance', 'organisations') }}

),

counts as (

    select
        end_date,
        period,
        window_months,
        level,
        org_code,
        staff_group,
        sum(case when in_start then 1 else 0 end) as headcount_start,
        sum(case when in_end then 1 else 0 end) as headcount_end,
        sum(case when in_start and not in_end then 1 else 0 end) as leavers,
        sum(case when in_end and not in_start then 1 else 0 end) as joiners,
        sum(case when in_start and in_end then 1 else 0 end) as stayers,
        sum(case when in_start and not in_end and in_system_at_end then 1 else 0 end) as leavers_staying_in_system
    from windows
    group by end_date, period, window_months, level, org_code, staff_group

),

all_organisations as (

    select
        end_date, period, window_months,
        'all_organisations' as level, 'ALL_ORGANISATIONS' as org_code, staff_group,
        sum(headcount_start) as headcount_start,
        sum(headcount_end) as headcount_end,
        sum(leavers) as leavers,
        sum(joiners) as joiners,
        sum(stayers) as stayers,
        sum(leavers_staying_in_system) as leavers_staying_in_system
    from counts
    where level = 'organisation'
    group by end_date, period, window_months, staff_group

),

combined as (

    select * from counts
    union all
    select * from all_organisations

),

nhs_method as (

    select
        combined.*,
        'nhs_average_headcount' as method,
        (headcount_start + headcount_end) / 2.0 as denominator,
        {{ safe_divide('leavers', '(headcount_start + headcount_end) / 2.0') }} as leaver_rate,
        {{ safe_divide('joiners', '(headcount_start + headcount_end) / 2.0') }} as joiner_rate
    from combined

),

skills_for_care_method as (

    select
        combined.*,
        'skills_for_care_current_staff' as method,
        cast(headcount_end as {{ type_double() }}) as denominator,
        {{ safe_divide('leavers', 'headcount_end') }} as leaver_rate,
        {{ safe_divide('joiners', 'headcount_end') }} as joiner_rate
    from combined
    inner join organisations on organisations.org_code = combined.org_code
    where combined.level = 'organisation' and organisations.sector = 'SOCIAL_CARE'

),

final as (

    select
        cast(period as varchar) as period,
        cast(end_date as date) as period_start_date,
        cast(window_months as integer) as window_months,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(staff_group as varchar) as staff_group,
        cast(method as varchar) as method,
        cast(headcount_start as bigint) as headcount_start,
        cast(headcount_end as bigint) as headcount_end,
        cast(leavers as bigint) as leavers,
        cast(joiners as bigint) as joiners,
        cast(stayers as bigint) as stayers,
        cast(leavers_staying_in_system as bigint) as leavers_staying_in_system,
        cast(denominator as {{ type_double() }}) as denominator,
        cast(leaver_rate as {{ type_double() }}) as leaver_rate,
        cast(joiner_rate as {{ type_double() }}) as joiner_rate
    from (
        select * from nhs_method
        union all
        select * from skills_for_care_method
    ) as rates

)

select * from final
