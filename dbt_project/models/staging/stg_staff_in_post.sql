with source as (

    select * from {{ source('raw', 'staff_in_post') }}

),

{#- Accepted submissions whose organisation has an agreement in force for staff in post on
    the build day (stg_submissions, macros/agreements.sql). -#}
current_submissions as (

    select submission_id
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type = 'staff_in_post'

),

{#- The optional fields an agreement in force lists for each organisation: a field no longer
    listed is not used (NULL, as if it had not been sent). -#}
permissions as (

    {{ field_permissions('staff_in_post', ['local_job_title', 'occupation_code', 'sector_role', 'pay_band', 'ethnic_category', 'disability', 'professional_registration']) }}

),

final as (

    select
        source.submission_id,
        source.payload_row,
        source.org_code,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        -- The person's 64-bit key (macros/person_key.sql): what every later model groups, joins
        -- and counts people by. The pseudonym stays in this view only, for the guard test.
        {{ person_key('source.person_id') }} as person_id,
        source.person_id as person_pseudonym,
        source.assignment_id,
        source.sector,
        case when permissions.may_local_job_title then source.local_job_title end as local_job_title,
        case when permissions.may_occupation_code then source.occupation_code end as occupation_code,
        case when permissions.may_sector_role then source.sector_role end as sector_role,
        source.staff_group as staff_group_reported,
        case when permissions.may_pay_band then source.pay_band end as pay_band,
        cast(source.contracted_hours as {{ type_double() }}) as contracted_hours,
        cast(source.fte as {{ type_double() }}) as fte,
        source.contract_type,
        source.assignment_start_date,
        source.age_band,
        source.gender,
        case when permissions.may_ethnic_category then source.ethnic_category end as ethnic_category,
        case when permissions.may_disability then source.disability end as disability,
        source.working_pattern,
        (case when permissions.may_professional_registration then source.professional_registration end) = 'Y' as is_professionally_registered,
        source.key_epoch,
        source.hub_key_epoch
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id
    inner join permissions on permissions.org_code = source.org_code

)

select * from final
