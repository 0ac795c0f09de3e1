{#-
  Each population compared between two censuses: the census `window_months` before
  (start) and the census of the period (end). One row per (end census, window, population,
  person) for everyone in the population at either end:
  - leaver: in at the start, not at the end;
  - joiner: in at the end, not at the start;
  - stayer: in at both.
  in_system_at_end says whether a person is in post anywhere in the system at the end census:
  an organisation leaver who is, is a system stayer. Windows whose start census is not in the
  data are not produced.

  Only organisations with an accepted staff in post submission at both censuses take part in
  a window: an organisation whose month is missing at either end (late, or not yet sharing
  data) would otherwise show all its staff as leavers or joiners, of the organisation and of
  the system. So the system of a window is the organisations that submitted at both its
  censuses: its populations, and in_system_at_end, are built from theirs.
-#}
{%- set windows = [1, var('turnover_window_months')] %}

with memberships as (

    select * from {{ ref('int_memberships') }}

),

censuses as (

    select distinct period_start_date from memberships

),

present as (

    {{ organisations_submitting(['staff_in_post']) }}

),

windows as (

    {% for months in windows %}
    select
        ends.period_start_date as end_date,
        starts.period_start_date as start_date,
        {{ months }} as window_months
    from censuses as ends
    inner join censuses as starts
        on starts.period_start_date = {{ dbt.dateadd('month', -months, 'ends.period_start_date') }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{#- An organisation with members at a census has an accepted submission for it (memberships
    come from accepted submissions only), so each side checks only the other census. Joined
    from the memberships outward: PostgreSQL underestimates a join of windows with submissions
    and would otherwise loop over the memberships once per organisation and window. -#}
{%- for side, census, other in [('start', 'start_date', 'end_date'), ('end', 'end_date', 'start_date')] %}

organisations_at_{{ side }} as (

    select windows.end_date, windows.window_months, m.org_code, m.staff_group, m.person_id
    from memberships as m
    inner join windows on windows.{{ census }} = m.period_start_date
    inner join present
        on present.period_start_date = windows.{{ other }}
        and present.org_code = m.org_code
    where m.level = 'organisation'

),

at_{{ side }} as (

    select end_date, window_months, 'organisation' as level, org_code, staff_group, person_id
    from organisations_at_{{ side }}
    union all
    select distinct end_date, window_months, 'system' as level, 'SYSTEM' as org_code, staff_group, person_id
    from organisations_at_{{ side }}

),
{%- endfor %}

paired as (

    select
        coalesce(at_start.end_date, at_end.end_date) as end_date,
        coalesce(at_start.window_months, at_end.window_months) as window_months,
        coalesce(at_start.level, at_end.level) as level,
        coalesce(at_start.org_code, at_end.org_code) as org_code,
        coalesce(at_start.staff_group, at_end.staff_group) as staff_group,
        coalesce(at_start.person_id, at_end.person_id) as person_id,
        at_start.person_id is not null as in_start,
        at_end.person_id is not null as in_end
    from at_start
    full outer join at_end
        on at_start.end_date = at_end.end_date
        and at_start.window_months = at_end.window_months
        and at_start.level = at_end.level
        and at_start.org_code = at_end.org_code
        and at_start.staff_group = at_end.staff_group
        and at_start.person_id = at_end.person_id

),

final as (

    -- in_system_at_end: the person is in the system's whole population at the end, i.e. the
    -- window's system ALL row for them has in_end. A window function over the pairs rather
    -- than a join back to them: PostgreSQL misjudges the size of the pairs and loops.
    select
        end_date,
        {{ period_label('end_date') }} as period,
        window_months,
        level,
        org_code,
        staff_group,
        person_id,
        in_start,
        in_end,
        max(case when level = 'system' and staff_group = 'ALL' and in_end then 1 else 0 end)
            over (partition by end_date, window_months, person_id) = 1 as in_system_at_end
    from paired

)

select * from final
