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
        "{{ delete_moved_people('staff_in_post', ref('int_assignments_harmonised')) }}",
        "{{ delete_stale_keys('staff_in_post', \"stale.level = 'organisation'\") }}",
    ],
) }}

with in_post as (

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

),

assignments as (

    select
        in_post.*,
        {%- if is_incremental() %}
        not {{ is_held_key('in_post', this, "held.level = 'organisation'") }} as for_organisation,
        not exists (
            select 1 from {{ this }} as held
            where held.level = 'system'
                and held.period_start_date = in_post.period_start_date
                and held.person_id = in_post.person_id
        ) as for_system
        {%- else %}
        true as for_organisation,
        true as for_system
        {%- endif %}
    from in_post

),

ranked as (

    select
        assignments.*,
        row_number() over (
            partition by period_start_date, org_code, person_id
            order by fte desc, assignment_id
        ) as org_rank,
        row_number() over (
            partition by period_start_date, person_id
            order by fte desc, org_code, assignment_id
        ) as system_rank
    from assignments
    {%- if is_incremental() %}
    where for_organisation or for_system
    {%- endif %}

),

organisation_level as (

    select
        'organisation' as level,
        org_code,
        period,
        period_start_date,
        person_id,
        {{ exact_sum('fte') }} as fte_total,
        count(*) as assignment_count,
        max(case when org_rank = 1 then staff_group end) as main_staff_group,
        max(case when org_rank = 1 then harmonised_role end) as main_harmonised_role,
        max(case when org_rank = 1 then pay_band end) as main_pay_band,
        max(case when org_rank = 1 then contract_type end) as main_contract_type,
        max(case when org_rank = 1 then sector end) as main_sector,
        max(case when org_rank = 1 then age_band end) as age_band,
        max(case when org_rank = 1 then gender end) as gender,
        max(case when org_rank = 1 then ethnic_category end) as ethnic_category,
        max(case when org_rank = 1 then disability end) as disability,
        max(case when org_rank = 1 then org_code end) as main_org_code,
        -- The key of the organisation's one submission for the month (one accepted
        -- submission per organisation, extract and period: stg_submissions' test).
        max(submission_id) as submission_id,
        max(hub_key_epoch) as hub_key_epoch
    from ranked
    where for_organisation
    group by org_code, period, period_start_date, person_id

),

system_level as (

    select
        'system' as level,
        'SYSTEM' as org_code,
        period,
        period_start_date,
        person_id,
        {{ exact_sum('fte') }} as fte_total,
        count(*) as assignment_count,
        max(case when system_rank = 1 then staff_group end) as main_staff_group,
        max(case when system_rank = 1 then harmonised_role end) as main_harmonised_role,
        max(case when system_rank = 1 then pay_band end) as main_pay_band,
        max(case when system_rank = 1 then contract_type end) as main_contract_type,
        max(case when system_rank = 1 then sector end) as main_sector,
        max(case when system_rank = 1 then age_band end) as age_band,
        max(case when system_rank = 1 then gender end) as gender,
        max(case when system_rank = 1 then ethnic_category end) as ethnic_category,
        max(case when system_rank = 1 then disability end) as disability,
        max(case when system_rank = 1 then org_code end) as main_org_code,
        cast(null as varchar) as submission_id,
        cast(null as integer) as hub_key_epoch
    from ranked
    where for_system
    group by period, period_start_date, person_id

)

select * from organisation_level
union all
select * from system_level
