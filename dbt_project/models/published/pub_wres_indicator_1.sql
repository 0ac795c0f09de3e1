select
    period,
    level,
    org_code,
    band_group,
    wres_group,
    headcount,
    share_of_band
from {{ ref('fct_wres_indicator_1') }}
