with source as (

    select * from {{ source('raw', 'vacancies') }}

),

current_submissions as (

    select submission_id
    from {{ source('raw', 'submissions') }}
    where status = 'accepted' and extract = 'vacancies'

),

final as (

    select
        source.submission_id,
        source.org_code,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        source.sector,
        source.staff_group,
        source.harmonised_role,
        cast(source.funded_establishment_fte as {{ type_double() }}) as funded_establishment_fte,
        cast(source.vacant_fte as {{ type_double() }}) as vacant_fte
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id

)

select * from final
