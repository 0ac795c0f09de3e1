{#-
  Who is in post in each population at each census: one row per (census, level, org_code,
  staff_group, person). A population is an organisation or the system, either whole
  (staff_group 'ALL') or one staff group. A person is in a staff group's population when any
  of their in-post assignments is in that group, so a person with assignments in two groups
  belongs to both and headcount by staff group does not sum to the total; changing staff
  group moves a person out of one population and into another.

  Built incrementally in the monthly build, as int_person_months is (macros/incremental.sql):
  organisation rows carry their submission's key, system rows are derived again for everyone
  in a key that went or came.
-#}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=incremental_full_refresh(),
    pre_hook=[
        "{{ drop_build_list(changed_periods_table()) }}",
        "{{ record_changed_periods('staff_in_post') }}",
        "{{ delete_moved_people('staff_in_post', ref('int_assignments_harmonised')) }}",
        "{{ delete_stale_keys('staff_in_post', \"stale.level = 'organisation' and \" ~ in_changed_periods('stale.period_start_date')) }}",
    ],
    post_hook=["{{ drop_build_list(changed_periods_table()) }}"],
) }}

with in_post as (

    select * from {{ ref('int_assignments_harmonised') }} as in_post
    where is_in_post

),

-- The assignments to derive populations from, and for which level (every one for both in a
-- full build; macros/incremental.sql).
derived as (

    {{ assignments_to_derive('in_post', "held.staff_group = 'ALL'") }}

),

-- The people with more than one of those assignments in the month marked: a population's
-- rows of everyone else are their one assignment's, with nothing to de-duplicate (as in
-- int_person_months; a DISTINCT over every assignment was most of this model's time).
-- Marked among the assignments derived, not all of them: a system population gets all of a
-- person's assignments or none, an organisation's all of the person's there or none, so one
-- unmarked row is the person's only row in any population it is in; and an incremental
-- build does not group the whole month.
flagged as (

    {{ with_more_rows_flag('derived', 'person_id', ['period_start_date']) }}

),

for_organisation as (

    select * from flagged where for_organisation

),

for_system as (

    select * from flagged where for_system

),

populations as (

    -- One accepted submission per organisation, extract and period (stg_submissions' test):
    -- the key is the same for every row of an organisation's month.
    {%- set levels = [
        ('for_organisation', 'organisation', 'org_code', 'submission_id, hub_key_epoch'),
        ('for_system', 'system', "'SYSTEM'", 'cast(null as varchar) as submission_id, cast(null as integer) as hub_key_epoch'),
    ] %}
    {%- for rows, level, org, key in levels %}
    {%- set outer_last = loop.last %}
    {%- for group in ["'ALL'", 'staff_group'] %}
    {%- set group_last = loop.last %}
    {%- for more in [false, true] %}
    select {{ 'distinct ' if more }}period_start_date, '{{ level }}' as level, {{ org }} as org_code, {{ group }} as staff_group, person_id, {{ key }}
    from {{ rows }} where {{ '' if more else 'not ' }}has_more_rows
    {%- if not (outer_last and group_last and loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
    {%- endfor %}

)

select * from populations
