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

  Built by window and person in the monthly build (macros/incremental.sql): a window depends
  on every organisation's staff in post at its two censuses and on nothing else, so only the
  windows with a changed census at either end are derived again, and in a window the table
  already holds only the people of the organisations that changed (meta.window_people); the
  rest is kept. Rebuilt in full, the table grew with every month the warehouse holds (two
  windows a month), and a second national month's build spent 8 s on it (docs/benchmarks.md,
  "The next month").
-#}
{%- set windows = window_lengths() %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=[
        "{{ drop_build_list('meta.window_people') }}",
        "{{ record_window_people(['staff_in_post'], ref('int_memberships')) }}",
        "{{ delete_changed_windows() }}",
    ],
    post_hook=[
        "{{ assert_windows_unique(['staff_in_post']) }}",
        "{{ forget_inputs() }}",
        "{{ record_inputs(['staff_in_post']) }}",
        "{{ drop_build_list('meta.window_people') }}",
    ],
) }}

{#- Not materialized on DuckDB: read from the table by each of its four readers, with their
    own filters, rather than copied whole first (a resubmission's windows on a hub holding
    three national months: 1.5-2.1 s against 0.6-0.8 s; the full build of two windows: 7.3
    against 5.8 s). -#}
with memberships as {% if target.type == 'duckdb' %}not materialized {% endif %}(

    select * from {{ ref('int_memberships') }}

),

censuses as (

    select distinct period_start_date from memberships

),

present as (

    {{ organisations_submitting(['staff_in_post']) }}

),

windows as (

    select * from (
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
    ) as every_window
    {%- if is_incremental() %}
    where {{ in_changed_window('every_window.end_date', 'every_window.start_date', ['staff_in_post']) }}
    {%- endif %}

),
{%- if is_incremental() %}

{#- A changed window the table holds no rows of (after the pre-hooks' delete) is derived
    whole; one it holds rows of, for the people of meta.window_people only (a second branch
    of each side below, so that a whole window is joined exactly as in a full build).
    The windows held are listed first, from the changed windows' end censuses only: a
    correlated `not exists` against the table was planned on DuckDB as a hash table of every
    row the table holds (2.3 s of CPU in a resubmission on six national months, growing by
    two windows a month; docs/benchmarks.md, "The windows' held rows and their join order"). -#}
scoped_windows as (

    select windows.*, held.end_date is null as is_whole
    from windows
    left join (
        select distinct held.end_date, held.window_months
        from {{ this }} as held
        where held.end_date in (select end_date from windows)
    ) as held
        on held.end_date = windows.end_date and held.window_months = windows.window_months

),
{%- endif %}

{#- An organisation with members at a census has an accepted submission for it (memberships
    come from accepted submissions only), so each side checks only the other census. Joined
    from the memberships outward: PostgreSQL underestimates a join of windows with submissions
    and would otherwise loop over the memberships once per organisation and window. -#}
{%- for side, census, other in [('start', 'start_date', 'end_date'), ('end', 'end_date', 'start_date')] %}

organisations_at_{{ side }} as (

    select windows.end_date, windows.window_months, m.org_code, m.staff_group, m.person_id
    from memberships as m
    {%- if is_incremental() %}
    inner join scoped_windows as windows
        on windows.{{ census }} = m.period_start_date and windows.is_whole
    {%- else %}
    inner join windows on windows.{{ census }} = m.period_start_date
    {%- endif %}
    inner join present
        on present.period_start_date = windows.{{ other }}
        and present.org_code = m.org_code
    where m.level = 'organisation'
    {%- if is_incremental() %}

    union all

    select windows.end_date, windows.window_months, m.org_code, m.staff_group, m.person_id
    from meta.window_people as changed
    inner join scoped_windows as windows
        on windows.end_date = changed.end_date
        and windows.window_months = changed.window_months
        and not windows.is_whole
    inner join memberships as m
        on m.period_start_date = windows.{{ census }}
        and m.person_id = changed.person_id
    where m.level = 'organisation'
        {#- A semi-join after the people's memberships, not an inner join beside them:
            DuckDB joined the organisations present with the people first (every person
            times every organisation, 2.7 million rows for one trust's resubmission) and
            hashed that. -#}
        and exists (
            select 1 from present
            where present.period_start_date = windows.{{ other }}
                and present.org_code = m.org_code
        )
    {%- endif %}

),
{%- endfor %}

{#- The system's populations at each end, from the organisations taking part. -#}
{%- for side in ['start', 'end'] %}

system_at_{{ side }} as (

    select distinct end_date, window_months, staff_group, person_id
    from organisations_at_{{ side }}

),
{%- endfor %}

{#- Each level paired on its own keys, the organisations' and the system's, rather than one
    join of both on (level, org_code, ...): 2.4 s against 3.7 s for a national month's
    window (docs/benchmarks.md, "The next month"). -#}
paired as (

    select
        coalesce(at_start.end_date, at_end.end_date) as end_date,
        coalesce(at_start.window_months, at_end.window_months) as window_months,
        'organisation' as level,
        coalesce(at_start.org_code, at_end.org_code) as org_code,
        coalesce(at_start.staff_group, at_end.staff_group) as staff_group,
        coalesce(at_start.person_id, at_end.person_id) as person_id,
        at_start.person_id is not null as in_start,
        at_end.person_id is not null as in_end
    from organisations_at_start as at_start
    full outer join organisations_at_end as at_end
        on at_start.end_date = at_end.end_date
        and at_start.window_months = at_end.window_months
        and at_start.org_code = at_end.org_code
        and at_start.staff_group = at_end.staff_group
        and at_start.person_id = at_end.person_id

    union all

    select
        coalesce(at_start.end_date, at_end.end_date) as end_date,
        coalesce(at_start.window_months, at_end.window_months) as window_months,
        'system' as level,
        'SYSTEM' as org_code,
        coalesce(at_start.staff_group, at_end.staff_group) as staff_group,
        coalesce(at_start.person_id, at_end.person_id) as person_id,
        at_start.person_id is not null as in_start,
        at_end.person_id is not null as in_end
    from system_at_start as at_start
    full outer join system_at_end as at_end
        on at_start.end_date = at_end.end_date
        and at_start.window_months = at_end.window_months
        and at_start.staff_group = at_end.staff_group
        and at_start.person_id = at_end.person_id

),

{#- in_system_at_end: the person is in the system's whole population at the end (staff group
    'ALL' of system_at_end). On DuckDB a join with that population, which is a third faster
    than a window function over the pairs; on PostgreSQL the window function, since it
    misjudges the size of the pairs and loops over a join back to them. -#}
{%- if target.type == 'duckdb' %}

in_system as (

    select end_date, window_months, person_id
    from system_at_end
    where staff_group = 'ALL'

),
{%- endif %}

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
        {%- if target.type == 'duckdb' %}
        in_system.person_id is not null as in_system_at_end
    from paired
    left join in_system
        on in_system.end_date = paired.end_date
        and in_system.window_months = paired.window_months
        and in_system.person_id = paired.person_id
        {%- else %}
        max(case when paired.level = 'system' and paired.staff_group = 'ALL' and paired.in_end then 1 else 0 end)
            over (partition by paired.end_date, paired.window_months, paired.person_id) = 1 as in_system_at_end
    from paired
        {%- endif %}

)

select * from final
