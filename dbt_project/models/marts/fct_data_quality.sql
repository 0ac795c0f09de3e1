{#-
  Data quality by organisation and period, one row per check:
  - completeness_<field>: share of in-post assignments with the field filled (base_count: how
    many assignments the share is built on, so that publication can suppress shares of 1-7);
  - unmapped_job_titles: in-post assignments whose local title the job title map does not know;
  - people_above_1_fte: people whose FTE at the organisation sums above 1.0 (a warning, not an error);
  - people_above_1_fte_across_organisations (org_code SYSTEM): people in post at two or more
    organisations whose FTE there sums above 1.0 - what no organisation can see of its own;
  - staff_group_disagreements: assignments whose reported staff group differs from the one
    derived from the occupation code or sector role;
  - missing_submissions: extracts an agreement in force expects for the period with no
    accepted submission (value = number missing; details list them), for every organisation
    with an agreement in force: 0 and ok where nothing is missing.
  status is 'warning' where the check found something, 'ok' otherwise.

  Built by month in the monthly build (macros/incremental.sql, "Marts by month"): a month's
  rows depend on that month's submissions of every extract (the missing ones are a check) and
  on nothing else a build can change without a full build (the agreements in force on the
  build day, the job title map and the registry are in the fingerprint), so only the months
  with a changed submission are derived again. Rebuilt in full, it read every month each
  month (0.5 s of a resubmission's build on a national hub holding two months, 1.3-1.6 s on
  six; 0.44-0.54 s on six built by month).
-#}
{%- set extracts = ['staff_in_post', 'leavers', 'vacancies', 'sickness_absence', 'temporary_staffing'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed_months(['staff_in_post', 'leavers', 'vacancies', 'sickness_absence', 'temporary_staffing']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['staff_in_post', 'leavers', 'vacancies', 'sickness_absence', 'temporary_staffing']) }}"],
) }}
{#- Completeness of the staff-in-post fields an organisation may leave empty (and of age band
    and gender, required, as a control). A field that applies to one kind of organisation is
    judged only on its assignments: occupation codes at NHS trusts, sector roles elsewhere;
    an organisation with none of those assignments gets no row for it. A field the
    organisation's agreement in force does not let it send (HS101's disability) gets no row
    either: an empty field it may not send is not a gap in its data. -#}
{%- set completeness_fields = [
    {'name': 'local_job_title', 'column': 'local_job_title', 'where': 'true'},
    {'name': 'occupation_code', 'column': 'occupation_code', 'where': "sector = 'NHS_TRUST'"},
    {'name': 'sector_role', 'column': 'sector_role', 'where': "sector <> 'NHS_TRUST'"},
    {'name': 'pay_band', 'column': 'pay_band', 'where': 'true'},
    {'name': 'ethnic_category', 'column': 'ethnic_category', 'where': 'true'},
    {'name': 'disability', 'column': 'disability', 'where': 'true'},
    {'name': 'professional_registration', 'column': 'is_professionally_registered', 'where': 'true'},
    {'name': 'age_band', 'column': 'age_band', 'where': 'true'},
    {'name': 'gender', 'column': 'gender', 'where': 'true'},
] %}

with assignments as (

    select * from {{ ref('int_assignments_harmonised') }} as assignments
    where is_in_post and {{ in_changed('assignments', extracts, 'month') }}

),

people as (

    select * from {{ ref('int_person_months') }} as person_months
    where level = 'organisation' and {{ in_changed('person_months', extracts, 'month') }}

),

{#- People in post at two or more organisations whose FTE there sums above 1.0. Their FTE summed
    over every organisation is their system row's fte_total (int_person_months sums all their
    in-post assignments, exactly), so only the organisation rows of the few people above 1.0
    in the system are counted, not every person's grouped (a GROUP BY of 1.5 million people
    that was 0.2 s of CPU in a national build). -#}
across_organisations as (

    select system_rows.period_start_date, system_rows.person_id
    from {{ ref('int_person_months') }} as system_rows
    inner join people
        on people.period_start_date = system_rows.period_start_date
        and people.person_id = system_rows.person_id
    where system_rows.level = 'system' and system_rows.fte_total > 1.0
        and {{ in_changed('system_rows', extracts, 'month') }}
    group by system_rows.period_start_date, system_rows.person_id
    having count(*) > 1

),

people_checks as (

    select period, period_start_date, org_code,
           sum(case when fte_total > 1.0 then 1.0 else 0.0 end) as above_1_fte
    from people
    group by period, period_start_date, org_code

),

submissions as (

    select * from {{ ref('stg_submissions') }} as accepted
    where submission_status = 'accepted' and {{ in_changed('accepted', extracts, 'month') }}

),

periods as (

    select distinct period, period_start_date from submissions

),

{#- The months and extracts an agreement covers (census date within its dates; active or
    ended, not a draft or a suspended one), for each organisation and extract with an
    agreement in force on the build day - whose data the models use (stg_submissions). So a
    renewed agreement's organisation keeps the months its predecessor covered, and the month
    the renewal took over (found in re-review: a renewal's organisation lost every data-quality
    row while its figures stayed in every mart). -#}
expected as (

    select distinct periods.period, periods.period_start_date, covering.org_code, covering.extract
    from {{ source('governance', 'agreement_extracts') }} as covering
    inner join periods
        on {{ census_date('periods.period_start_date') }} between covering.start_date and covering.end_date
    inner join {{ source('governance', 'agreement_extracts') }} as agreements
        on agreements.org_code = covering.org_code and agreements.extract = covering.extract
    where covering.status in ('active', 'ended') and {{ in_force('agreements') }}

),

missing as (

    -- Every organisation-period an agreement in force (on the build day) covers: 0 where nothing is missing
    -- (string_agg skips the nulls of the extracts that were sent).
    select expected.period, expected.period_start_date, expected.org_code,
           sum(case when submissions.submission_id is null then 1 else 0 end) as missing,
           {{ dbt.listagg("case when submissions.submission_id is null then expected.extract end", "', '", "order by expected.extract") }} as extracts
    from expected
    left join submissions
        on submissions.org_code = expected.org_code
        and submissions.extract_type = expected.extract
        and submissions.period = expected.period
    group by expected.period, expected.period_start_date, expected.org_code

),

{#- The staff-in-post fields each organisation's agreement in force lets it send. -#}
permitted_fields as (

    select distinct expected.org_code, expected.period_start_date, fields.field
    from expected
    inner join {{ source('governance', 'agreement_extracts') }} as agreements
        on agreements.org_code = expected.org_code and agreements.extract = expected.extract
    inner join {{ source('governance', 'agreement_fields') }} as fields
        on fields.agreement_id = agreements.agreement_id and fields.extract = agreements.extract
    where {{ in_force('agreements') }} and expected.extract = 'staff_in_post'

),

{#- Every per-assignment check in one pass over the assignments (nine passes, one per field,
    and two more took 0.2 s of CPU in a national build). A field judged only on some
    assignments (its `where`) counts only those: an organisation with none has base 0 and gets
    no row. -#}
assignment_checks as (

    select period, period_start_date, org_code,
        {%- for f in completeness_fields %}
        avg(case when {{ f.where }} then case when {{ f.column }} is not null then 1.0 else 0.0 end end) as share_{{ loop.index }},
        count(case when {{ f.where }} then 1 end) as base_{{ loop.index }},
        {%- endfor %}
        sum(case when is_title_unmapped then 1.0 else 0.0 end) as unmapped_titles,
        count(distinct case when is_title_unmapped then local_title_normalised end) as distinct_unmapped_titles,
        sum(case when is_staff_group_disagreement then 1.0 else 0.0 end) as staff_group_disagreements
    from assignments
    group by period, period_start_date, org_code

),

checks as (

    {% for f in completeness_fields %}
    select period, period_start_date, org_code, 'completeness_{{ f.name }}' as check_name,
           share_{{ loop.index }} as value, cast(null as varchar) as details,
           base_{{ loop.index }} as base_count
    from assignment_checks
    where base_{{ loop.index }} > 0
    union all
    {% endfor %}
    select period, period_start_date, org_code, 'unmapped_job_titles', unmapped_titles,
           cast(distinct_unmapped_titles as varchar)
               || case when distinct_unmapped_titles = 1 then ' distinct title' else ' distinct titles' end,
           null
    from assignment_checks
    union all
    select period, period_start_date, org_code, 'staff_group_disagreements',
           staff_group_disagreements, cast(null as varchar), null
    from assignment_checks
    union all
    select period, period_start_date, org_code, 'people_above_1_fte', above_1_fte, cast(null as varchar), null
    from people_checks
    union all
    -- One row for every month with people in post, 0 where nobody is above 1.0 across organisations.
    select months.period, months.period_start_date, 'SYSTEM', 'people_above_1_fte_across_organisations',
           cast(count(across_organisations.person_id) as {{ type_double() }}), cast(null as varchar), null
    from (select distinct period, period_start_date from people_checks) as months
    left join across_organisations
        on across_organisations.period_start_date = months.period_start_date
    group by months.period, months.period_start_date
    union all
    select period, period_start_date, org_code, 'missing_submissions', cast(missing as {{ type_double() }}), extracts, null
    from missing

),

{#- Completeness only of fields the agreement lets the organisation send: filtered on the
    checks' rows (a few per organisation and month), not on the 1.5 million assignments each
    check reads (that cost 0.9 s of a national build). -#}
kept as (

    select checks.*
    from checks
    where checks.check_name not like 'completeness_%'
        or exists (
            select 1 from permitted_fields
            where permitted_fields.org_code = checks.org_code
                and permitted_fields.period_start_date = checks.period_start_date
                and 'completeness_' || permitted_fields.field = checks.check_name
        )

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(org_code as varchar) as org_code,
        cast(check_name as varchar) as check_name,
        cast(value as {{ type_double() }}) as value,
        cast(details as varchar) as details,
        cast(base_count as bigint) as base_count,
        cast(case
            when check_name like 'completeness_%' then case when value < 0.95 then 'warning' else 'ok' end
            else case when value > 0 then 'warning' else 'ok' end
        end as varchar) as status
    from kept

)

select * from final
