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
-#}
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

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

),

people as (

    select * from {{ ref('int_person_months') }}
    where level = 'organisation'

),

system_people as (

    select period, period_start_date, person_id,
           count(*) as organisations, {{ exact_sum('fte_total') }} as fte_total
    from people
    group by period, period_start_date, person_id

),

submissions as (

    select * from {{ ref('stg_submissions') }}
    where submission_status = 'accepted'

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

checks as (

    {% for f in completeness_fields %}
    select period, period_start_date, org_code, 'completeness_{{ f.name }}' as check_name,
           avg(case when {{ f.column }} is not null then 1.0 else 0.0 end) as value,
           cast(null as varchar) as details,
           count(*) as base_count
    from assignments
    where {{ f.where }}
    group by period, period_start_date, org_code
    union all
    {% endfor %}
    select period, period_start_date, org_code, 'unmapped_job_titles',
           sum(case when is_title_unmapped then 1.0 else 0.0 end),
           cast(count(distinct case when is_title_unmapped then local_title_normalised end) as varchar)
               || case when count(distinct case when is_title_unmapped then local_title_normalised end) = 1
                       then ' distinct title' else ' distinct titles' end,
           null
    from assignments
    group by period, period_start_date, org_code
    union all
    select period, period_start_date, org_code, 'staff_group_disagreements',
           sum(case when is_staff_group_disagreement then 1.0 else 0.0 end), cast(null as varchar), null
    from assignments
    group by period, period_start_date, org_code
    union all
    select period, period_start_date, org_code, 'people_above_1_fte',
           sum(case when fte_total > 1.0 then 1.0 else 0.0 end), cast(null as varchar), null
    from people
    group by period, period_start_date, org_code
    union all
    select period, period_start_date, 'SYSTEM', 'people_above_1_fte_across_organisations',
           sum(case when organisations > 1 and fte_total > 1.0 then 1.0 else 0.0 end),
           cast(null as varchar), null
    from system_people
    group by period, period_start_date
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
