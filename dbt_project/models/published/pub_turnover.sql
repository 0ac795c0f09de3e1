select
    period,
    window_months,
    level,
    org_code,
    staff_group,
    method,
    headcount_start,
    headcount_end,
    leavers,
    joiners,
    leavers_staying_in_system,
    leaver_rate,
    joiner_rate
from {{ ref('fct_turnover') }}
