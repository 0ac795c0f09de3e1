{#-
  Each submission's people, for the person-key guard: the key and check value
  (macros/person_key.sql) of each row of each accepted staff-in-post, sickness-absence and
  leavers submission. No pseudonym is kept. Rows are not made distinct: a person has about
  1.02 rows a submission at national scale, and DISTINCT doubled the table's build time.

  The guard (person_key_is_one_to_one on stg_staff_in_post) runs before this model, and a
  failing guard skips it. In the monthly build's incremental builds the guard therefore
  checks only the people of submissions this table does not hold yet, against each other and
  against the people it holds: (key, check) pairs, instead of every pseudonym the warehouse
  holds, read and hashed again each month (docs/models.md, "The person-key guard").

  Built incrementally by submission in the monthly build (macros/incremental.sql), as
  int_assignments_harmonised is: the rows of submissions no longer used are deleted (a purge,
  a superseded submission, a key rotation's new epoch), those of submissions not yet held are
  added.
-#}
{%- set extracts = [
    ('staff_in_post', 'stg_staff_in_post'),
    ('sickness_absence', 'stg_sickness_absence'),
    ('leavers', 'stg_leavers'),
] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_stale_keys(none) }}"],
) }}

{%- for extract, view in extracts %}
select
    people.submission_id,
    submissions.hub_key_epoch,
    '{{ extract }}' as extract_type,
    people.person_id,
    {{ person_check('people.person_pseudonym') }} as person_check
from {{ ref(view) }} as people
inner join {{ ref('stg_submissions') }} as submissions
    on submissions.submission_id = people.submission_id
where people.person_pseudonym is not null
    {%- if is_incremental() %}
    and {{ in_submissions_not_held('people', extract, this) }}
    {%- endif %}
{{ 'union all' if not loop.last }}
{%- endfor %}
