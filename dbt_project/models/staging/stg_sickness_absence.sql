with source as (

    select * from {{ source('raw', 'sickness_absence') }}

),

{#- Accepted submissions whose organisation has an agreement in force for sickness absence on
    the build day (stg_submissions, macros/agreements.sql). -#}
current_submissions as (

    select submission_id
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type = 'sickness_absence'

),

{#- The optional fields an agreement in force lists for each organisation: a field no longer
    listed is not used (NULL, as if it had not been sent). -#}
permissions as (

    {{ field_permissions('sickness_absence', ['sickness_reason']) }}

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
        source.staff_group,
        source.contract_type,
        cast(source.fte_days_available as {{ type_double() }}) as fte_days_available,
        cast(source.fte_days_lost as {{ type_double() }}) as fte_days_lost,
        case when permissions.may_sickness_reason then source.sickness_reason end as sickness_reason
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id
    inner join permissions on permissions.org_code = source.org_code

)

select * from final
