with source as (

    select * from {{ source('raw', 'vacancies') }}

),

{#- Accepted submissions whose organisation has an agreement in force for vacancies on
    the build day (stg_submissions, macros/agreements.sql). -#}
current_submissions as (

    select submission_id
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type = 'vacancies'

),

{#- The optional fields an agreement in force lists for each organisation: a field no longer
    listed is not used (NULL, as if it had not been sent). -#}
permissions as (

    {{ field_permissions('vacancies', ['harmonised_role']) }}

),

final as (

    select
        source.submission_id,
        source.org_code,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        source.sector,
        source.staff_group,
        case when permissions.may_harmonised_role then source.harmonised_role end as harmonised_role,
        cast(source.funded_establishment_fte as {{ type_double() }}) as funded_establishment_fte,
        cast(source.vacant_fte as {{ type_double() }}) as vacant_fte
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id
    inner join permissions on permissions.org_code = source.org_code

)

select * from final
