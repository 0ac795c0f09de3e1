{#-
  Profiles of the people in post (headcount, each person once at each level): age band, the
  share aged 55 and over (the usual retirement-risk measure), gender, declared disability,
  ethnic category and WRES group (White A-C, BME D-S, not stated Z, not known 99 or missing,
  kept separate). A person's attributes are those of their main assignment. Missing values
  are reported as NOT_RECORDED (disability is not shared by every organisation).
-#}
{#- Built by organisation and month in the monthly build (macros/incremental.sql), as
    fct_workforce_in_post is: a row depends on one organisation's month (level
    'organisation') or on one month of every organisation (level 'system'), through
    int_person_months, so only the organisations and months whose staff in post changed are
    derived again. Rebuilt in full, it read every month the hub holds in every build
    (docs/benchmarks.md, "Windows derived again by person": 1.45 s of a resubmission at three
    national months, and growing). -#}
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

    select code, min_age from {{ ref('age_band') }}

),

attributes as (

    select
        people.level, people.org_code, people.period, people.period_start_date, people.person_id,
        coalesce(people.age_band, 'NOT_RECORDED') as age_band,
        case when bands.min_age >= 55 then 'Y' when bands.min_age is null then 'NOT_RECORDED' else 'N' end as aged_55_and_over,
        coalesce(people.gender, 'NOT_RECORDED') as gender,
        coalesce(people.disability, 'NOT_RECORDED') as disability,
        coalesce(people.ethnic_category, '99') as ethnic_category,
        coalesce(ethnicity.wres_group, 'NOT_KNOWN') as wres_group
    from people
    left join ethnicity on ethnicity.code = people.ethnic_category
    left join bands on bands.code = people.age_band

),

{%- set dimensions = ['age_band', 'aged_55_and_over', 'gender', 'disability', 'ethnic_category', 'wres_group'] %}

long_form as (

    {% for d in dimensions %}
    select level, org_code, period, period_start_date, '{{ d }}' as dimension, {{ d }} as dimension_value,
           count(*) as headcount
    from attributes
    group by level, org_code, period, period_start_date, {{ d }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(dimension as varchar) as dimension,
        cast(dimension_value as varchar) as dimension_value,
        cast(headcount as bigint) as headcount,
        cast(headcount * 1.0 / sum(headcount) over (
            partition by period_start_date, level, org_code, dimension
        ) as {{ type_double() }}) as share_of_headcount
    from long_form

)

select * from final
