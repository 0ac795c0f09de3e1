{#-
  One row per person, census and level: at each organisation where the person is in post
  (level 'organisation'), and once for the whole system (level 'system', org_code 'SYSTEM').
  Only assignments with FTE > 0 are staff in post. Where a person must sit in one group their
  main assignment decides: the largest FTE, ties broken by organisation code then assignment
  pseudonym (deterministic).
-#}
with assignments as (

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

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
        max(case when org_rank = 1 then org_code end) as main_org_code
    from ranked
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
        max(case when system_rank = 1 then org_code end) as main_org_code
    from ranked
    group by period, period_start_date, person_id

)

select * from organisation_level
union all
select * from system_level
