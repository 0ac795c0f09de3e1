{#-
  Sickness absence rate = FTE days lost / FTE days available (calendar days, a 365-day year),
  bank staff excluded, by organisation (and system) and staff group (as reported by the
  organisation in the sickness extract), per month. people_absent (those with days lost) is
  what the days lost are about: the disclosure control's base for them and for the rate. People are counted by person_id, the
  person's 64-bit key from staging (macros/person_key.sql).

  Built by organisation and month in the monthly build (macros/incremental.sql): only the
  organisations and months whose sickness submissions changed are derived again.
-#}
{%- set extracts = ['sickness_absence'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed(['sickness_absence']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['sickness_absence']) }}"],
) }}

with sickness as (

    select *, person_id as person_key
    from {{ ref('stg_sickness_absence') }} as sickness
    where contract_type <> 'BANK' and {{ in_changed('sickness', extracts, 'system') }}

),

-- People counted as people_count() (macros/people.sql): those with sickness rows at more
-- than one organisation in the month marked.
counted as (

    {{ with_more_rows_flag('sickness', 'person_key', ['period_start_date']) }}

),

organisation_rows as (

    select * from counted as sickness
    where {{ in_changed('sickness', extracts, 'organisation') }}

),

levels as (

    select 'organisation' as level, org_code, period, period_start_date, staff_group, person_key, has_more_rows, fte_days_lost, fte_days_available from organisation_rows
    union all
    select 'organisation', org_code, period, period_start_date, 'ALL', person_key, has_more_rows, fte_days_lost, fte_days_available from organisation_rows
    union all
    select 'system', 'SYSTEM', period, period_start_date, staff_group, person_key, has_more_rows, fte_days_lost, fte_days_available from counted
    union all
    select 'system', 'SYSTEM', period, period_start_date, 'ALL', person_key, has_more_rows, fte_days_lost, fte_days_available from counted

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(staff_group as varchar) as staff_group,
        cast({{ people_count('person_key') }} as bigint) as people,
        cast({{ people_count('person_key', 'fte_days_lost > 0') }} as bigint) as people_absent,
        {{ exact_sum('fte_days_lost') }} as fte_days_lost,
        {{ exact_sum('fte_days_available') }} as fte_days_available,
        cast({{ safe_divide(exact_sum('fte_days_lost'), exact_sum('fte_days_available')) }} as {{ type_double() }}) as sickness_rate
    from levels
    group by period, period_start_date, level, org_code, staff_group

)

select * from final
