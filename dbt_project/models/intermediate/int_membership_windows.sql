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

    select distinct period_start_date, org_code
    from {{ ref('stg_submissions') }}
    where extract_type = 'staff_in_post' and submission_status = 'accepted'

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

comparable as (

    select windows.end_date, windows.start_date, windows.window_months, at_start.org_code
    from windows
    inner join present as at_start on at_start.period_start_date = windows.start_date
    inner join present as at_end
        on at_end.period_start_date = windows.end_date
        and at_end.org_code = at_start.org_code

),

{%- for side, census in [('start', 'start_date'), ('end', 'end_date')] %}

organisations_at_{{ side }} as (

    select comparable.end_date, comparable.window_months, m.org_code, m.staff_group, m.person_id
    from comparable
    inner join memberships as m
        on m.period_start_date = comparable.{{ census }}
        and m.org_code = comparable.org_code
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

system_at_end as (

    select end_date, window_months, person_id
    from at_end
    where level = 'system' and staff_group = 'ALL'

),

final as (

    select
        paired.end_date,
        {{ period_label('paired.end_date') }} as period,
        paired.window_months,
        paired.level,
        paired.org_code,
        paired.staff_group,
        paired.person_id,
        paired.in_start,
        paired.in_end,
        system_at_end.person_id is not null as in_system_at_end
    from paired
    left join system_at_end
        on system_at_end.end_date = paired.end_date
        and system_at_end.window_months = paired.window_months
        and system_at_end.person_id = paired.person_id

)

select * from final
