select
    period,
    window_months,
    from_org_code,
    to_org_code,
    staff_group,
    people
from {{ ref('fct_flows_between_organisations') }}
