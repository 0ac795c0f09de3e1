{#-
  Vacancies and vacancy rate by organisation (and system) and staff group:
  vacancy rate = vacant FTE / (vacant FTE + substantive FTE in post). Substantive FTE in post
  is permanent and fixed-term assignments with FTE > 0 in the staff-in-post census of the same
  period, by harmonised staff group (local choice: establishment is reported by the
  organisation's own staff group, which can differ from the harmonised one for a few rows).
  A vacancy covered by bank or agency staff is still a vacancy.
  An organisation takes part in a month when it has accepted vacancies and staff in post
  submissions for it: without its census, its substantive FTE is unknown, not zero (which
  would make every vacancy rate 100% and inflate the system's), so it is left out of the
  month until the census arrives (fct_data_quality reports the missing submission).

  Built by month in the monthly build (macros/incremental.sql): only the months with a
  changed submission are derived again.
-#}
{%- set extracts = ['vacancies', 'staff_in_post'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed_months(['vacancies', 'staff_in_post']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['vacancies', 'staff_in_post']) }}"],
) }}
with submitted as (

    select * from ({{ organisations_submitting(extracts) }}) as submitting
    where {{ in_changed('submitting', extracts, 'month') }}

),

vacancies as (

    select v.period, v.period_start_date, v.org_code, v.staff_group,
           {{ exact_sum('v.funded_establishment_fte') }} as funded_establishment_fte,
           {{ exact_sum('v.vacant_fte') }} as vacant_fte
    from {{ ref('stg_vacancies') }} as v
    inner join submitted
        on submitted.org_code = v.org_code
        and submitted.period_start_date = v.period_start_date
    group by v.period, v.period_start_date, v.org_code, v.staff_group

),

substantive as (

    select period_start_date, org_code, staff_group, {{ exact_sum('fte') }} as substantive_fte
    from {{ ref('int_assignments_harmonised') }} as assignments
    where is_in_post and is_substantive and {{ in_changed('assignments', extracts, 'month') }}
    group by period_start_date, org_code, staff_group

),

organisation_level as (

    select
        'organisation' as level,
        vacancies.period,
        vacancies.period_start_date,
        vacancies.org_code,
        vacancies.staff_group,
        vacancies.funded_establishment_fte,
        vacancies.vacant_fte,
        coalesce(substantive.substantive_fte, 0) as substantive_fte
    from vacancies
    left join substantive
        on substantive.period_start_date = vacancies.period_start_date
        and substantive.org_code = vacancies.org_code
        and substantive.staff_group = vacancies.staff_group

),

with_totals as (

    select * from organisation_level
    union all
    select 'organisation', period, period_start_date, org_code, 'ALL',
           {{ exact_sum('funded_establishment_fte') }}, {{ exact_sum('vacant_fte') }}, {{ exact_sum('substantive_fte') }}
    from organisation_level group by period, period_start_date, org_code
    union all
    select 'system', period, period_start_date, 'SYSTEM', staff_group,
           {{ exact_sum('funded_establishment_fte') }}, {{ exact_sum('vacant_fte') }}, {{ exact_sum('substantive_fte') }}
    from organisation_level group by period, period_start_date, staff_group
    union all
    select 'system', period, period_start_date, 'SYSTEM', 'ALL',
           {{ exact_sum('funded_establishment_fte') }}, {{ exact_sum('vacant_fte') }}, {{ exact_sum('substantive_fte') }}
    from organisation_level group by period, period_start_date

),

-- Substantive people (distinct) behind substantive_fte at every level: the disclosure
-- control's base for the vacancy rate, which with the vacant FTE published gives the
-- substantive FTE back (of a staff group of a few people, say).
substantive_people as (

    {{ substantive_people('vacancies', ['period_start_date', 'org_code', 'staff_group']) }}

),

final as (

    select
        cast(with_totals.period as varchar) as period,
        cast(with_totals.period_start_date as date) as period_start_date,
        cast(with_totals.level as varchar) as level,
        cast(with_totals.org_code as varchar) as org_code,
        cast(with_totals.staff_group as varchar) as staff_group,
        cast(with_totals.funded_establishment_fte as {{ type_double() }}) as funded_establishment_fte,
        cast(with_totals.vacant_fte as {{ type_double() }}) as vacant_fte,
        cast(with_totals.substantive_fte as {{ type_double() }}) as substantive_fte,
        cast(coalesce(substantive_people.substantive_headcount, 0) as bigint) as substantive_headcount,
        cast({{ safe_divide('with_totals.vacant_fte', 'with_totals.vacant_fte + with_totals.substantive_fte') }} as {{ type_double() }}) as vacancy_rate
    from with_totals
    left join substantive_people
        on substantive_people.period_start_date = with_totals.period_start_date
        and substantive_people.level = with_totals.level
        and substantive_people.org_code = with_totals.org_code
        and substantive_people.staff_group = with_totals.staff_group

)

select * from final
