select
    period,
    level,
    org_code,
    staff_group,
    people,
    people_absent,
    fte_days_lost,
    fte_days_available,
    sickness_rate
from {{ ref('fct_sickness_absence') }}
