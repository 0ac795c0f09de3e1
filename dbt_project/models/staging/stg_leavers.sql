with source as (

    select * from {{ source('raw', 'leavers') }}

),

{#- Accepted submissions whose organisation has an agreement in force for leavers on
    the build day (stg_submissions, macros/agreements.sql). -#}
current_submissions as (

    select submission_id
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type = 'leavers'

),

{#- The optional fields an agreement in force lists for each organisation: a field no longer
    listed is not used (NULL, as if it had not been sent). -#}
permissions as (

    {{ field_permissions('leavers', ['occupation_code', 'sector_role', 'pay_band', 'destination']) }}

),

final as (

    select
        source.submission_id,
        source.org_code,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        -- The person's 64-bit key (macros/person_key.sql): what every later model groups, joins
        -- and counts people by. The pseudonym stays in this view only, for the guard test.
        {{ person_key('source.person_id') }} as person_id,
        source.person_id as person_pseudonym,
        source.assignment_id,
        source.sector,
        case when permissions.may_occupation_code then source.occupation_code end as occupation_code,
        case when permissions.may_sector_role then source.sector_role end as sector_role,
        source.staff_group as staff_group_reported,
        case when permissions.may_pay_band then source.pay_band end as pay_band,
        source.contract_type,
        source.age_band,
        source.assignment_end_date,
        source.leaving_reason,
        case when permissions.may_destination then source.destination end as destination
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id
    inner join permissions on permissions.org_code = source.org_code

)

select * from final
