with source as (

    select * from {{ source('raw', 'submissions') }}

),

{#- The organisations and extracts an agreement in force on the build day covers
    (macros/agreements.sql). -#}
in_force as (

    select distinct org_code, extract
    from {{ source('governance', 'agreement_extracts') }} as agreements
    where {{ in_force('agreements') }}

),

final as (

    select
        source.submission_id,
        source.org_code,
        source.extract as extract_type,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        -- An accepted submission that no agreement in force covers any more (ended,
        -- suspended, past its end date, or no longer listing the extract) is withheld: no
        -- model uses it. raw.submissions keeps it accepted, so it is used again if an
        -- agreement comes back into force.
        case
            when source.status = 'accepted' and in_force.org_code is null then 'withheld'
            else source.status
        end as submission_status,
        source.status_reason,
        source.agreement_id,
        source.key_epoch,
        source.hub_key_epoch,
        source.row_count,
        source.received_at,
        source.decided_at,
        source.package_sha256
    from source
    left join in_force
        on in_force.org_code = source.org_code and in_force.extract = source.extract

)

select * from final
