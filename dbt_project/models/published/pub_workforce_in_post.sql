select
    period,
    level,
    org_code,
    dimension,
    dimension_value,
    headcount,
    fte,
    role_count
from {{ ref('fct_workforce_in_post') }}
