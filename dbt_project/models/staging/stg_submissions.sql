with source as (

    select * from {{ source('raw', 'submissions') }}

),

final as (

    select
        submission_id,
        org_code,
        extract as extract_type,
        period,
        {{ period_start('period') }} as period_start_date,
        status as submission_status,
        status_reason,
        agreement_id,
        key_epoch,
        hub_key_epoch,
        row_count,
        received_at,
        decided_at,
        package_sha256
    from source

)

select * from final
