select
    period,
    level,
    org_code,
    sickness_reason,
    reason_label,
    people,
    fte_days_lost,
    share_of_days_lost
from {{ ref('fct_sickness_reasons') }}
