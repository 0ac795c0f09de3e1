with source as (

    select * from {{ source('raw', 'temporary_staffing') }}

),

{#- Accepted submissions whose organisation has an agreement in force for temporary staffing on
    the build day (stg_submissions, macros/agreements.sql). -#}
current_submissions as (

    select submission_id
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted' and extract_type = 'temporary_staffing'

),

final as (

    select
        source.submission_id,
        source.org_code,
        source.period,
        {{ period_start('source.period') }} as period_start_date,
        source.sector,
        source.staff_group,
        source.supply_type,
        source.price_cap_override = 'Y' as is_price_cap_override,
        cast(source.hours_worked as {{ type_double() }}) as hours_worked,
        cast(source.shifts_filled as {{ dbt.type_int() }}) as shifts_filled,
        cast(source.fte as {{ type_double() }}) as fte,
        cast(source.spend_gbp as {{ type_double() }}) as spend_gbp
    from source
    inner join current_submissions on current_submissions.submission_id = source.submission_id

)

select * from final
