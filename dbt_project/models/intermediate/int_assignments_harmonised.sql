{#-
  One row per assignment per census, with its common staff group and harmonised role derived
  the same way for every organisation:
  - NHS trusts: the occupation code through the occupation matrix (longest matching prefix);
    a code that matches nothing, or whose pay system contradicts the pay band (a medical code
    with a non-medical band or the reverse), is OTHER_UNKNOWN - never a guess.
  - Elsewhere: the sector role's common staff group and harmonised role.
  The local job title is normalised and looked up in the job title map; a title the map does
  not know is flagged (a data-quality warning for its organisation, never a silent "Other").
  Staff in post (is_in_post) are assignments with FTE above 0 in a role that counts: GP
  registrars are excluded from practice counts (DOMAIN.md), as the sector_role code list's
  counted_in_post column says; they stay in this table, flagged is_excluded_role.

  Built incrementally by submission in the monthly build (macros/incremental.sql): the rows of
  submissions no longer used are deleted, those of submissions not yet held are added.
-#}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_stale_keys('staff_in_post') }}"],
) }}

with assignments as (

    select * from {{ ref('stg_staff_in_post') }} as arriving
    {%- if is_incremental() %}
    where {{ in_submissions_not_held('arriving', 'staff_in_post', this) }}
    {%- endif %}

),

matrix as (

    select prefix, staff_group, pay_system from {{ ref('occupation_matrix') }}

),

bands as (

    select code as pay_band, pay_system as band_pay_system from {{ ref('pay_band') }}

),

sector_roles as (

    select
        code as sector_role,
        staff_group as role_staff_group,
        harmonised_role as role_harmonised_role,
        counted_in_post as role_counted_in_post
    from {{ ref('sector_role') }}

),

titles as (

    select local_title, harmonised_role as title_harmonised_role from {{ ref('job_title_map') }}

),

matched as (

    select
        assignments.*,
        {{ normalise_title('assignments.local_job_title') }} as local_title_normalised,
        coalesce(m3.staff_group, m2.staff_group, m1.staff_group) as matrix_staff_group,
        coalesce(m3.pay_system, m2.pay_system, m1.pay_system) as matrix_pay_system,
        bands.band_pay_system,
        sector_roles.role_staff_group,
        sector_roles.role_harmonised_role,
        sector_roles.role_counted_in_post
    from assignments
    left join matrix as m3 on m3.prefix = substring(assignments.occupation_code, 1, 3)
    left join matrix as m2 on m2.prefix = substring(assignments.occupation_code, 1, 2)
    left join matrix as m1 on m1.prefix = substring(assignments.occupation_code, 1, 1)
    left join bands on bands.pay_band = assignments.pay_band
    left join sector_roles on sector_roles.sector_role = assignments.sector_role

),

with_titles as (

    select matched.*, titles.title_harmonised_role
    from matched
    left join titles on titles.local_title = matched.local_title_normalised

),

final as (

    select
        submission_id,
        org_code,
        sector,
        period,
        period_start_date,
        person_id,
        assignment_id,
        case
            when sector = 'NHS_TRUST' then
                case
                    when matrix_staff_group is null then 'OTHER_UNKNOWN'
                    when band_pay_system is not null
                        and (matrix_pay_system = 'MEDICAL') <> (band_pay_system = 'MEDICAL')
                        then 'OTHER_UNKNOWN'
                    else matrix_staff_group
                end
            else coalesce(role_staff_group, 'OTHER_UNKNOWN')
        end as staff_group,
        case
            when sector = 'NHS_TRUST' then title_harmonised_role
            else coalesce(role_harmonised_role, title_harmonised_role)
        end as harmonised_role,
        staff_group_reported,
        local_job_title,
        local_title_normalised,
        local_title_normalised is not null and title_harmonised_role is null as is_title_unmapped,
        occupation_code,
        sector_role,
        pay_band,
        contracted_hours,
        fte,
        -- Staff in post: FTE above 0, in a role that counts (a GP registrar, in training,
        -- is excluded from practice counts: the sector_role code list's counted_in_post).
        fte > 0 and coalesce(role_counted_in_post, 'Y') <> 'N' as is_in_post,
        coalesce(role_counted_in_post, 'Y') = 'N' as is_excluded_role,
        contract_type,
        contract_type in ('PERMANENT', 'FIXED_TERM') as is_substantive,
        assignment_start_date,
        age_band,
        gender,
        ethnic_category,
        disability,
        working_pattern,
        is_professionally_registered,
        hub_key_epoch
    from with_titles

)

select
    final.*,
    final.staff_group <> final.staff_group_reported as is_staff_group_disagreement
from final
