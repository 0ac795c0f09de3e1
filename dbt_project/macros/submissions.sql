{#-
  organisations_submitting(extracts): the (org_code, period_start_date) pairs with an
  accepted submission of every extract named - the organisations that take part in a
  month's figures built from those extracts. A figure that sets one extract beside another
  (temporary staffing or vacancies beside staff in post) or compares two censuses must not
  read a missing submission as zero.
-#}
{% macro organisations_submitting(extracts) -%}
    select org_code, period_start_date
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted'
        and extract_type in ({% for e in extracts %}'{{ e }}'{{ ', ' if not loop.last }}{% endfor %})
    group by org_code, period_start_date
    having count(distinct extract_type) = {{ extracts | length }}
{%- endmacro %}

{#-
  substantive_people(within, on): distinct substantive people in post (permanent and fixed
  term, FTE > 0) at every level - organisation by staff group, organisation (staff_group
  'ALL'), system by staff group and system ('SYSTEM', 'ALL') - counting only the assignments
  that match a row of the CTE `within` on the columns `on`. The disclosure control's base for
  a rate that, with the magnitudes published beside it, would give the substantive FTE back
  (the temporary share of FTE, the vacancy rate).
-#}
{% macro substantive_people(within, on) -%}
    with substantive as (
        select assignments.period_start_date, assignments.org_code, assignments.staff_group, assignments.person_id
        from {{ ref('int_assignments_harmonised') }} as assignments
        inner join {{ within }}
            on {% for c in on %}{{ within }}.{{ c }} = assignments.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
        where assignments.is_in_post and assignments.is_substantive
    ),
    -- Distinct people as people_count() (macros/people.sql), marked from int_person_months.
    counted as (
        {{ with_more_assignments_flag('substantive', 'person_id') }}
    )
    select
        counted.period_start_date,
        case when grouping(counted.org_code) = 0 then 'organisation' else 'system' end as level,
        case when grouping(counted.org_code) = 0 then counted.org_code else 'SYSTEM' end as org_code,
        case when grouping(counted.staff_group) = 0 then counted.staff_group else 'ALL' end as staff_group,
        {{ people_count('counted.person_id') }} as substantive_headcount
    from counted
    group by grouping sets (
        (counted.period_start_date, counted.org_code, counted.staff_group),
        (counted.period_start_date, counted.org_code),
        (counted.period_start_date, counted.staff_group),
        (counted.period_start_date)
    )
{%- endmacro %}
