select
    period,
    level,
    org_code,
    leaving_reason,
    reason_category,
    reason_label,
    leavers
from {{ ref('fct_leaving_reasons') }}
