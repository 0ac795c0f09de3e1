{#-
  One row per person, census and level: at each organisation where the person is in post
  (level 'organisation'), and once for the whole system (level 'system', org_code 'SYSTEM').
  Only assignments with FTE > 0 are staff in post. Where a person must sit in one group their
  main assignment decides: the largest FTE, ties broken by organisation code then assignment
  pseudonym (deterministic).

  Built incrementally in the monthly build (macros/incremental.sql): an organisation row
  carries the key of the submission it came from; when a key goes or comes, the organisation
  rows of the keys that went are deleted, and so are the system rows of everyone in either;
  then the organisation rows of keys not held, and the system rows of people in post who have
  none, are derived from every assignment they have.
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

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

),

{#- Most people have one assignment in post in the month, anywhere: their rows at both levels
    are that assignment, with nothing to rank or add up. Only the others (about 2% of people
    nationally) go through the windows and the grouping, which over every assignment took most
    of this model's time (docs/benchmarks.md). They are marked among the assignments derived
    (for which level: assignments_to_derive, macros/incremental.sql),
    not all of them: a system row is derived from all of a person's assignments or none, an
    organisation row from all of the person's there or none, so an unmarked row is the
    person's only one wherever it counts; and an incremental build does not group the whole
    month. -#}
derived as (

    {{ assignments_to_derive('in_post') }}

),

flagged as (

    {{ with_more_rows_flag('derived', 'person_id', ['period_start_date']) }}

),

ranked as (

    select
        flagged.*,
        row_number() over (
            partition by period_start_date, org_code, person_id
            order by fte desc, assignment_id
        ) as org_rank,
        row_number() over (
            partition by period_start_date, person_id
            order by fte desc, org_code, assignment_id
        ) as system_rank
    from flagged
    where has_more_rows

),

{%- set attributes = [
    ('staff_group', 'main_staff_group'), ('harmonised_role', 'main_harmonised_role'),
    ('pay_band', 'main_pay_band'), ('contract_type', 'main_contract_type'),
    ('sector', 'main_sector'), ('age_band', 'age_band'), ('gender', 'gender'),
    ('ethnic_category', 'ethnic_category'), ('disability', 'disability'),
    ('org_code', 'main_org_code'),
] %}
{%- for level, rank, by in [('organisation', 'org_rank', 'org_code, '), ('system', 'system_rank', '')] %}

{{ level }}_level as (

    select
        '{{ level }}' as level,
        {{ 'org_code' if level == 'organisation' else "'SYSTEM' as org_code" }},
        period,
        period_start_date,
        person_id,
        cast(cast(fte as decimal(38, 9)) as {{ type_double() }}) as fte_total,
        1 as assignment_count,
        {%- for column, name in attributes %}
        {{ column }} as {{ name }},
        {%- endfor %}
        {%- if level == 'organisation' %}
        submission_id,
        hub_key_epoch
        {%- else %}
        cast(null as varchar) as submission_id,
        cast(null as integer) as hub_key_epoch
        {%- endif %}
    from flagged
    where not has_more_rows and for_{{ level }}
    union all
    select
        '{{ level }}' as level,
        {{ 'org_code' if level == 'organisation' else "'SYSTEM' as org_code" }},
        period,
        period_start_date,
        person_id,
        {{ exact_sum('fte') }} as fte_total,
        count(*) as assignment_count,
        {%- for column, name in attributes %}
        max(case when {{ rank }} = 1 then {{ column }} end) as {{ name }},
        {%- endfor %}
        {%- if level == 'organisation' %}
        -- The key of the organisation's one submission for the month (one accepted
        -- submission per organisation, extract and period: stg_submissions' test).
        max(submission_id) as submission_id,
        max(hub_key_epoch) as hub_key_epoch
        {%- else %}
        cast(null as varchar) as submission_id,
        cast(null as integer) as hub_key_epoch
        {%- endif %}
    from ranked
    where for_{{ level }}
    group by {{ by }}period, period_start_date, person_id

),
{%- endfor %}

final as (

    select * from organisation_level
    union all
    select * from system_level

)

select * from final
