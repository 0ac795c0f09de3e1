select
    period,
    level,
    org_code,
    dimension,
    dimension_value,
    headcount,
    share_of_headcount
from {{ ref('fct_workforce_profile') }}
where dimension in ('gender', 'disability', 'ethnic_category', 'wres_group')
