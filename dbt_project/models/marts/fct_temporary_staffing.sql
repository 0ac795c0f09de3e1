{#-
  Bank and agency FTE, hours, shifts and spend by organisation (and system) and staff group,
  reported beside substantive FTE in post, never inside it. Agency use above the price cap is
  shown separately.

  Which organisations take part in a month: those with accepted temporary staffing and staff
  in post submissions for it. An accepted temporary staffing file with only its header row
  means no bank or agency use that month (zeros beside the organisation's substantive FTE).
  An organisation missing either extract is left out of the month, numerator and
  denominator alike, until it arrives (fct_data_quality reports the missing submission):
  its temporary use, or the substantive FTE it would be set beside, is unknown. Every staff
  group with substantive staff in post is a row, with or without temporary use, so the
  organisation's ALL row and the system rows carry all of its substantive FTE.

  Built by month in the monthly build (macros/incremental.sql): only the months with a
  changed submission are derived again.
-#}
{%- set extracts = ['temporary_staffing', 'staff_in_post'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed_months(['temporary_staffing', 'staff_in_post']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['temporary_staffing', 'staff_in_post']) }}"],
) }}
with submitted as (

    select * from ({{ organisations_submitting(extracts) }}) as submitting
    where {{ in_changed('submitting', extracts, 'month') }}

),

temporary as (

    select temporary.*
    from {{ ref('stg_temporary_staffing') }} as temporary
    inner join submitted
        on submitted.org_code = temporary.org_code
        and submitted.period_start_date = temporary.period_start_date

),

substantive as (

    select
        assignments.period, assignments.period_start_date, assignments.org_code,
        assignments.staff_group, {{ exact_sum('assignments.fte') }} as substantive_fte
    from {{ ref('int_assignments_harmonised') }} as assignments
    inner join submitted
        on submitted.org_code = assignments.org_code
        and submitted.period_start_date = assignments.period_start_date
    where assignments.is_in_post and assignments.is_substantive
    group by assignments.period, assignments.period_start_date, assignments.org_code,
             assignments.staff_group

),

-- Substantive people (distinct) at every level: the disclosure control's base for the
-- temporary share, which with the bank and agency FTE published gives their FTE back.
substantive_people as (

    {{ substantive_people('submitted', ['org_code', 'period_start_date']) }}

),

by_group as (

    select
        period, period_start_date, org_code, staff_group,
        {{ exact_sum("case when supply_type = 'BANK' then fte else 0 end") }} as bank_fte,
        {{ exact_sum("case when supply_type = 'BANK' then hours_worked else 0 end") }} as bank_hours,
        {{ exact_sum("case when supply_type = 'BANK' then shifts_filled else 0 end") }} as bank_shifts,
        {{ exact_sum("case when supply_type = 'BANK' then spend_gbp else 0 end") }} as bank_spend_gbp,
        {{ exact_sum("case when supply_type = 'AGENCY' then fte else 0 end") }} as agency_fte,
        {{ exact_sum("case when supply_type = 'AGENCY' then hours_worked else 0 end") }} as agency_hours,
        {{ exact_sum("case when supply_type = 'AGENCY' then shifts_filled else 0 end") }} as agency_shifts,
        {{ exact_sum("case when supply_type = 'AGENCY' then spend_gbp else 0 end") }} as agency_spend_gbp,
        {{ exact_sum("case when supply_type = 'AGENCY' and is_price_cap_override then shifts_filled else 0 end") }} as agency_shifts_above_price_cap,
        {{ exact_sum("case when supply_type = 'AGENCY' and is_price_cap_override then spend_gbp else 0 end") }} as agency_spend_above_price_cap_gbp
    from temporary
    group by period, period_start_date, org_code, staff_group

),

{%- set temporary_measures = ['bank_fte', 'bank_hours', 'bank_shifts', 'bank_spend_gbp', 'agency_fte',
                              'agency_hours', 'agency_shifts', 'agency_spend_gbp',
                              'agency_shifts_above_price_cap', 'agency_spend_above_price_cap_gbp'] %}

organisation_level as (

    select
        'organisation' as level,
        coalesce(by_group.period, substantive.period) as period,
        coalesce(by_group.period_start_date, substantive.period_start_date) as period_start_date,
        coalesce(by_group.org_code, substantive.org_code) as org_code,
        coalesce(by_group.staff_group, substantive.staff_group) as staff_group,
        {%- for m in temporary_measures %}
        coalesce(by_group.{{ m }}, 0) as {{ m }},
        {%- endfor %}
        coalesce(substantive.substantive_fte, 0) as substantive_fte
    from by_group
    full outer join substantive
        on substantive.period_start_date = by_group.period_start_date
        and substantive.org_code = by_group.org_code
        and substantive.staff_group = by_group.staff_group

),

{%- set measures = temporary_measures + ['substantive_fte'] %}

combined as (

    select level, period, period_start_date, org_code, staff_group, {{ measures | join(', ') }} from organisation_level
    union all
    select 'organisation', period, period_start_date, org_code, 'ALL',
        {% for m in measures %}{{ exact_sum(m) }}{% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date, org_code
    union all
    select 'system', period, period_start_date, 'SYSTEM', staff_group,
        {% for m in measures %}{{ exact_sum(m) }}{% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date, staff_group
    union all
    select 'system', period, period_start_date, 'SYSTEM', 'ALL',
        {% for m in measures %}{{ exact_sum(m) }}{% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date

),

final as (

    select
        cast(combined.period as varchar) as period,
        cast(combined.period_start_date as date) as period_start_date,
        cast(combined.level as varchar) as level,
        cast(combined.org_code as varchar) as org_code,
        cast(combined.staff_group as varchar) as staff_group,
        {% for m in measures %}
        cast(combined.{{ m }} as {{ 'bigint' if 'shifts' in m else type_double() }}) as {{ m }},
        {% endfor %}
        cast(coalesce(substantive_people.substantive_headcount, 0) as bigint) as substantive_headcount,
        cast({{ safe_divide('combined.bank_fte + combined.agency_fte', 'combined.bank_fte + combined.agency_fte + combined.substantive_fte') }} as {{ type_double() }}) as temporary_share_of_fte
    from combined
    left join substantive_people
        on substantive_people.period_start_date = combined.period_start_date
        and substantive_people.level = combined.level
        and substantive_people.org_code = combined.org_code
        and substantive_people.staff_group = combined.staff_group

)

select * from final
