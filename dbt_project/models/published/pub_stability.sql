select
    period,
    level,
    org_code,
    staff_group,
    headcount_start,
    stayers,
    stability_index,
    stayers_in_system,
    system_stability_index
from {{ ref('fct_stability') }}
