with source as (

    select * from {{ source('raw', 'leavers') }}

),

current_submissions as (

    select submission_id
    from {{ source('raw', 'submissions') }}
    where status = 'accepted' and extract = 'leavers'

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
        source.occupation_code,
        source.sector_role,
        source.staff_group as staff_group_reported,
        source.pay_band,
        source.contract_type,
        source.age_band,
        source.assignment_end_date,
        source.leaving_reason,
        source.destination
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id

)

select * from final
