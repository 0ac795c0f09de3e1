{#-
  Who is in post in each population at each census: one row per (census, level, org_code,
  staff_group, person). A population is an organisation or the system, either whole
  (staff_group 'ALL') or one staff group. A person is in a staff group's population when any
  of their in-post assignments is in that group, so a person with assignments in two groups
  belongs to both and headcount by staff group does not sum to the total; changing staff
  group moves a person out of one population and into another.
-#}
with assignments as (

    select * from {{ ref('int_assignments_harmonised') }}
    where is_in_post

),

populations as (

    select distinct period_start_date, 'organisation' as level, org_code, 'ALL' as staff_group, person_id
    from assignments
    union all
    select distinct period_start_date, 'organisation' as level, org_code, staff_group, person_id
    from assignments
    union all
    select distinct period_start_date, 'system' as level, 'SYSTEM' as org_code, 'ALL' as staff_group, person_id
    from assignments
    union all
    select distinct period_start_date, 'system' as level, 'SYSTEM' as org_code, staff_group, person_id
    from assignments

)

select * from populations
