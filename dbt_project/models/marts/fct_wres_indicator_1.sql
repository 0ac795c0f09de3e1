{#-
  WRES indicator 1: the percentage of staff in each pay band by WRES group (White, BME, not
  stated, not known), headcount by main assignment. Bands: Agenda for Change 1 to 9 (8a-8d
  separately), medical and dental, very senior managers, and other or none (local pay,
  primary and social care without a band).
-#}
{#- Built by organisation and month in the monthly build, as fct_workforce_profile is (the
    same reasons: macros/incremental.sql, docs/models.md "Incremental builds"). -#}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed(['staff_in_post']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['staff_in_post']) }}"],
) }}
with people as (

    select * from {{ ref('int_person_months') }} as person_months
    {%- if is_incremental() %}
    where {{ in_changed_rows('person_months', ['staff_in_post']) }}
    {%- endif %}

),

ethnicity as (

    select code, wres_group from {{ ref('ethnic_category') }}

),

bands as (

    select code, label, pay_system, sort_order from {{ ref('pay_band') }}

),

classified as (

    select
        people.level, people.org_code, people.period, people.period_start_date,
        case
            when bands.pay_system = 'AFC' then bands.code
            when bands.pay_system = 'MEDICAL' then 'MEDICAL_AND_DENTAL'
            when bands.pay_system = 'VSM' then 'VSM'
            else 'OTHER_OR_NONE'
        end as band_group,
        coalesce(ethnicity.wres_group, 'NOT_KNOWN') as wres_group
    from people
    left join ethnicity on ethnicity.code = people.ethnic_category
    left join bands on bands.code = people.main_pay_band

),

counts as (

    select level, org_code, period, period_start_date, band_group, wres_group, count(*) as headcount
    from classified
    group by level, org_code, period, period_start_date, band_group, wres_group

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(band_group as varchar) as band_group,
        cast(wres_group as varchar) as wres_group,
        cast(headcount as bigint) as headcount,
        cast(headcount * 1.0 / sum(headcount) over (
            partition by period_start_date, level, org_code, band_group
        ) as {{ type_double() }}) as share_of_band
    from counts

)

select * from final
