{#- FTE days lost by reason (bank excluded), with each reason's share of days lost. Built by
    organisation and month in the monthly build, as fct_sickness_absence is
    (macros/incremental.sql). -#}
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

    select * from {{ ref('stg_sickness_absence') }} as sickness
    where contract_type <> 'BANK' and fte_days_lost > 0
        and {{ in_changed('sickness', extracts, 'system') }}

),

organisation_rows as (

    select * from sickness
    where {{ in_changed('sickness', extracts, 'organisation') }}

),

reasons as (

    select code, label from {{ ref('sickness_reason') }}

),

levels as (

    select 'organisation' as level, org_code, period, period_start_date, sickness_reason, person_id, fte_days_lost from organisation_rows
    union all
    select 'system', 'SYSTEM', period, period_start_date, sickness_reason, person_id, fte_days_lost from sickness

),

by_reason as (

    select level, org_code, period, period_start_date, coalesce(sickness_reason, 'S99') as sickness_reason,
           count(distinct person_id) as people, {{ exact_sum('fte_days_lost') }} as fte_days_lost
    from levels
    group by level, org_code, period, period_start_date, coalesce(sickness_reason, 'S99')

),

final as (

    select
        cast(by_reason.period as varchar) as period,
        cast(by_reason.period_start_date as date) as period_start_date,
        cast(by_reason.level as varchar) as level,
        cast(by_reason.org_code as varchar) as org_code,
        cast(by_reason.sickness_reason as varchar) as sickness_reason,
        cast(coalesce(reasons.label, by_reason.sickness_reason) as varchar) as reason_label,
        cast(by_reason.people as bigint) as people,
        cast(by_reason.fte_days_lost as {{ type_double() }}) as fte_days_lost,
        cast(by_reason.fte_days_lost / {{ exact_sum('by_reason.fte_days_lost', over='partition by by_reason.period_start_date, by_reason.level, by_reason.org_code') }} as {{ type_double() }}) as share_of_days_lost
    from by_reason
    left join reasons on reasons.code = by_reason.sickness_reason

)

select * from final
