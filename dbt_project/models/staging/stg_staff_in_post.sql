with source as (

    select * from {{ source('raw', 'staff_in_post') }}

),

current_submissions as (

    select submission_id
    from {{ source('raw', 'submissions') }}
    where status = 'accepted' and extract = 'staff_in_post'

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
        source.local_job_title,
        source.occupation_code,
        source.sector_role,
        source.staff_group as staff_group_reported,
        source.pay_band,
        cast(source.contracted_hours as {{ type_double() }}) as contracted_hours,
        cast(source.fte as {{ type_double() }}) as fte,
        source.contract_type,
        source.assignment_start_date,
        source.age_band,
        source.gender,
        source.ethnic_category,
        source.disability,
        source.working_pattern,
        source.professional_registration = 'Y' as is_professionally_registered,
        source.key_epoch,
        source.hub_key_epoch
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id

)

select * from final
