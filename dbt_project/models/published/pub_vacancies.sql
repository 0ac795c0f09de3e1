select
    period,
    level,
    org_code,
    staff_group,
    funded_establishment_fte,
    vacant_fte,
    substantive_headcount,
    vacancy_rate
from {{ ref('fct_vacancies') }}
