{#-
  Reasons for leaving, for the organisation's leavers of each month as turnover counts them
  (DOMAIN.md: in post at the previous census, not at this one; fct_turnover's 1-month
  leavers), by the reason the leavers extract records: people (distinct) by coded reason and
  its category, and those counts added up over all organisations (level all_organisations,
  as in fct_turnover). UNKNOWN is a reason in its own right and is reported as such.
  - A leaver record of someone who was not in post at the previous census (a bank-only
    worker, whose assignments have FTE 0; a GP registrar, not counted in post) is not a
    leaver's and is not counted: counting it made the reasons add up to more than turnover's
    leavers.
  - A census leaver with no record in the month's leavers extract is reported as
    NOT_RECORDED (category UNKNOWN): a reason the extract did not give, not left out.
  - A person whose assignments ended for different reasons counts once, under the reason of
    the assignment that ended last (ties: the reason code, first in order).
  So within an organisation the reasons add up to its leavers of the month. Only
  organisation-months with an accepted leavers submission and an accepted staff in post
  submission at both censuses take part (the census comparison is int_membership_windows').
  There is no system row: someone who leaves one organisation for another of the system has
  not left the system (DOMAIN.md), so the organisations' leavers added up are organisation
  leavers, not system leavers; fct_turnover has the system's leavers.
-#}
with census_leavers as (

    select end_date as period_start_date, period, org_code, person_id
    from {{ ref('int_membership_windows') }}
    where window_months = 1
        and level = 'organisation'
        and staff_group = 'ALL'
        and in_start
        and not in_end

),

submitted as (

    {{ organisations_submitting(['leavers']) }}

),

-- A census leaver's records: those of the census month, and those of the month before whose
-- assignment ended on that month's last day, the census day. Someone whose last day is the
-- census day can be in post at that census (the standard's census is of assignments in post on
-- the last day) and so a census leaver of the next month, while the leavers extract reports
-- them in the month the assignment ended; without the second, a month-end leaver (common in
-- ESR data) was NOT_RECORDED in the next month and their record never used. A record is the
-- reason of at most one census leaver: a census leaver of the next month was in post at the
-- census of its own month.
records as (

    select
        census_leavers.org_code,
        census_leavers.period_start_date,
        census_leavers.person_id,
        leavers.leaving_reason,
        row_number() over (
            partition by census_leavers.org_code, census_leavers.period_start_date, census_leavers.person_id
            order by leavers.assignment_end_date desc nulls last, leavers.leaving_reason
        ) as latest
    from census_leavers
    inner join {{ ref('stg_leavers') }} as leavers
        on leavers.org_code = census_leavers.org_code
        and leavers.person_id = census_leavers.person_id
        and (
            leavers.period_start_date = census_leavers.period_start_date
            or (
                cast({{ dbt.dateadd('month', 1, 'leavers.period_start_date') }} as date) = census_leavers.period_start_date
                and leavers.assignment_end_date = cast({{ dbt.dateadd('day', -1, 'census_leavers.period_start_date') }} as date)
            )
        )

),

reasons as (

    select code, label, category from {{ ref('leaving_reason') }}

),

organisation_level as (

    select
        'organisation' as level,
        census_leavers.org_code,
        census_leavers.period,
        census_leavers.period_start_date,
        coalesce(records.leaving_reason, 'NOT_RECORDED') as leaving_reason,
        count(*) as leavers
    from census_leavers
    inner join submitted
        on submitted.org_code = census_leavers.org_code
        and submitted.period_start_date = census_leavers.period_start_date
    left join records
        on records.org_code = census_leavers.org_code
        and records.period_start_date = census_leavers.period_start_date
        and records.person_id = census_leavers.person_id
        and records.latest = 1
    group by 1, 2, 3, 4, 5

),

levels as (

    select * from organisation_level
    union all
    select
        'all_organisations' as level,
        'ALL_ORGANISATIONS' as org_code,
        period,
        period_start_date,
        leaving_reason,
        sum(leavers) as leavers
    from organisation_level
    group by period, period_start_date, leaving_reason

),

final as (

    select
        cast(levels.period as varchar) as period,
        cast(levels.period_start_date as date) as period_start_date,
        cast(levels.level as varchar) as level,
        cast(levels.org_code as varchar) as org_code,
        cast(levels.leaving_reason as varchar) as leaving_reason,
        cast(coalesce(reasons.category, 'UNKNOWN') as varchar) as reason_category,
        cast(
            case
                when levels.leaving_reason = 'NOT_RECORDED' then 'Not recorded: no leaver record in the leavers extract'
                else coalesce(reasons.label, levels.leaving_reason)
            end as varchar
        ) as reason_label,
        cast(levels.leavers as bigint) as leavers
    from levels
    left join reasons on reasons.code = levels.leaving_reason

)

select * from final
