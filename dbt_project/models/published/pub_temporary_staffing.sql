select
    period,
    level,
    org_code,
    staff_group,
    bank_fte,
    bank_hours,
    bank_shifts,
    bank_spend_gbp,
    agency_fte,
    agency_hours,
    agency_shifts,
    agency_spend_gbp,
    agency_shifts_above_price_cap,
    agency_spend_above_price_cap_gbp,
    substantive_headcount,
    temporary_share_of_fte
from {{ ref('fct_temporary_staffing') }}
