{#-
  Bank and agency FTE, hours, shifts and spend by organisation (and system) and staff group,
  reported beside substantive FTE in post, never inside it. Agency use above the price cap is
  shown separately.
-#}
with temporary as (

    select * from {{ ref('stg_temporary_staffing') }}

),

substantive as (

    select period_start_date, org_code, staff_group, sum(fte) as substantive_fte
    from {{ ref('int_assignments_harmonised') }}
    where is_in_post and is_substantive
    group by period_start_date, org_code, staff_group

),

by_group as (

    select
        period, period_start_date, org_code, staff_group,
        sum(case when supply_type = 'BANK' then fte else 0 end) as bank_fte,
        sum(case when supply_type = 'BANK' then hours_worked else 0 end) as bank_hours,
        sum(case when supply_type = 'BANK' then shifts_filled else 0 end) as bank_shifts,
        sum(case when supply_type = 'BANK' then spend_gbp else 0 end) as bank_spend_gbp,
        sum(case when supply_type = 'AGENCY' then fte else 0 end) as agency_fte,
        sum(case when supply_type = 'AGENCY' then hours_worked else 0 end) as agency_hours,
        sum(case when supply_type = 'AGENCY' then shifts_filled else 0 end) as agency_shifts,
        sum(case when supply_type = 'AGENCY' then spend_gbp else 0 end) as agency_spend_gbp,
        sum(case when supply_type = 'AGENCY' and is_price_cap_override then shifts_filled else 0 end) as agency_shifts_above_price_cap,
        sum(case when supply_type = 'AGENCY' and is_price_cap_override then spend_gbp else 0 end) as agency_spend_above_price_cap_gbp
    from temporary
    group by period, period_start_date, org_code, staff_group

),

organisation_level as (

    select 'organisation' as level, by_group.*, coalesce(substantive.substantive_fte, 0) as substantive_fte
    from by_group
    left join substantive
        on substantive.period_start_date = by_group.period_start_date
        and substantive.org_code = by_group.org_code
        and substantive.staff_group = by_group.staff_group

),

{%- set measures = ['bank_fte', 'bank_hours', 'bank_shifts', 'bank_spend_gbp', 'agency_fte', 'agency_hours',
                    'agency_shifts', 'agency_spend_gbp', 'agency_shifts_above_price_cap',
                    'agency_spend_above_price_cap_gbp', 'substantive_fte'] %}

combined as (

    select level, period, period_start_date, org_code, staff_group, {{ measures | join(', ') }} from organisation_level
    union all
    select 'organisation', period, period_start_date, org_code, 'ALL',
        {% for m in measures %}sum({{ m }}){% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date, org_code
    union all
    select 'system', period, period_start_date, 'SYSTEM', staff_group,
        {% for m in measures %}sum({{ m }}){% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date, staff_group
    union all
    select 'system', period, period_start_date, 'SYSTEM', 'ALL',
        {% for m in measures %}sum({{ m }}){% if not loop.last %}, {% endif %}{% endfor %}
    from organisation_level group by period, period_start_date

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(staff_group as varchar) as staff_group,
        {% for m in measures %}
        cast({{ m }} as {{ 'bigint' if 'shifts' in m else type_double() }}) as {{ m }},
        {% endfor %}
        cast({{ safe_divide('bank_fte + agency_fte', 'bank_fte + agency_fte + substantive_fte') }} as {{ type_double() }}) as temporary_share_of_fte
    from combined

)

select * from final
