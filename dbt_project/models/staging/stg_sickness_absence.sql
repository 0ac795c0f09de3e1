with source as (

    select * from {{ source('raw', 'sickness_absence') }}

),

current_submissions as (

    select submission_id
    from {{ source('raw', 'submissions') }}
    where status = 'accepted' and extract = 'sickness_absence'

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
        source.sickness_reason
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id

)

select * from final
