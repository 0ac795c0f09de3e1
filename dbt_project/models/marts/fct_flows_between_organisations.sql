{#-
  Movement between organisations of the system: people in post at one organisation at the
  start census (and not at the end) who are in post at another organisation at the end (and
  were not there at the start), over 1 and 12 months, by the staff group of their main
  assignment at the organisation they left, and for all staff groups together (staff_group
  'ALL': the sum of the groups, as each mover has one main group). This is what no single
  organisation can see. The ALL rows are what planners mostly get: a pair's movers in one
  staff group are rarely more than a handful, which disclosure control suppresses.
  Both organisations of a move must have an accepted staff in post submission at both
  censuses (as in int_membership_windows): "not at the organisation left, at the end" and
  "not at the one joined, at the start" cannot be read from a month that organisation did
  not send, and would otherwise count someone with posts at both as moving.
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

    select distinct w.end_date, w.window_months,
           {{ dbt.dateadd('month', '-w.window_months', 'w.end_date') }} as start_date
    from {{ ref('int_membership_windows') }} as w
    where {{ in_changed_windows('w.end_date', 'w.window_months', extracts) }}

),

{#- On DuckDB (the hub's warehouse, the one built incrementally) only the windows' censuses
    are read: a resubmission's one or two windows read their own censuses, not every month
    the warehouse holds (its select on a hub holding three national months: 0.45-0.55 s
    reading every month, 0.30-0.32 s reading its censuses). Not on PostgreSQL, which builds
    in full: there the filters, on a CTE read three times, made the planner loop over the
    memberships (the small system's build of this model took 378 s against about 1 s). -#}
memberships as (

    select period_start_date, org_code, person_id
    from {{ ref('int_memberships') }}
    where level = 'organisation' and staff_group = 'ALL'
        {%- if target.type == 'duckdb' %}
        and period_start_date in (
            select end_date from windows union select cast(start_date as date) from windows
        )
        {%- endif %}

),

person_months as (

    select period_start_date, org_code, person_id, main_staff_group
    from {{ ref('int_person_months') }}
    where level = 'organisation'
        {%- if target.type == 'duckdb' %}
        and period_start_date in (select cast(start_date as date) from windows)
        {%- endif %}

),

present as (

    {{ organisations_submitting(['staff_in_post']) }}

),

moves as (

    select
        windows.end_date,
        windows.window_months,
        from_org.org_code as from_org_code,
        to_org.org_code as to_org_code,
        from_org.person_id
    from windows
    inner join memberships as from_org on from_org.period_start_date = windows.start_date
    inner join memberships as to_org
        on to_org.period_start_date = windows.end_date
        and to_org.person_id = from_org.person_id
        and to_org.org_code <> from_org.org_code
    left join memberships as from_org_at_end
        on from_org_at_end.period_start_date = windows.end_date
        and from_org_at_end.org_code = from_org.org_code
        and from_org_at_end.person_id = from_org.person_id
    left join memberships as to_org_at_start
        on to_org_at_start.period_start_date = windows.start_date
        and to_org_at_start.org_code = to_org.org_code
        and to_org_at_start.person_id = from_org.person_id
    inner join present as from_org_sent_end
        on from_org_sent_end.org_code = from_org.org_code
        and from_org_sent_end.period_start_date = windows.end_date
    inner join present as to_org_sent_start
        on to_org_sent_start.org_code = to_org.org_code
        and to_org_sent_start.period_start_date = windows.start_date
    where from_org_at_end.person_id is null and to_org_at_start.person_id is null

),

with_group as (

    select moves.*, coalesce(person_months.main_staff_group, 'OTHER_UNKNOWN') as staff_group
    from moves
    left join person_months
        on person_months.period_start_date = {{ dbt.dateadd('month', '-moves.window_months', 'moves.end_date') }}
        and person_months.org_code = moves.from_org_code
        and person_months.person_id = moves.person_id

),

final as (

    select
        cast({{ period_label('end_date') }} as varchar) as period,
        cast(end_date as date) as period_start_date,
        cast(window_months as integer) as window_months,
        cast(from_org_code as varchar) as from_org_code,
        cast(to_org_code as varchar) as to_org_code,
        cast(case when grouping(staff_group) = 0 then staff_group else 'ALL' end as varchar)
            as staff_group,
        cast(count(distinct person_id) as bigint) as people
    from with_group
    group by grouping sets (
        (end_date, window_months, from_org_code, to_org_code, staff_group),
        (end_date, window_months, from_org_code, to_org_code)
    )

)

select * from final
