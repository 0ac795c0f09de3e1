{#-
  Staff in post at each census: headcount (distinct people), FTE (summed over assignments)
  and role count (assignments), for each organisation and for the system, in total and by
  staff group, harmonised role, pay band, sector and contract type. Each figure is computed
  from the assignments at its own level and breakdown, never summed from lower levels.
-#}
{%- set dimensions = ['staff_group', 'harmonised_role', 'pay_band', 'sector', 'contract_type'] %}
{#- One pass over the assignments with GROUPING SETS: the organisation level groups by
    org_code, the system level does not; each breakdown adds one dimension. (Twelve separate
    GROUP BYs over a union of both levels computed the same figures in about half as long
    again.) grouping(x) = 0 means x is one of this row's grouping columns. People are counted
    by person_id, the person's 64-bit key from staging (macros/person_key.sql): three times
    faster to de-duplicate than the pseudonym, and guarded against collisions by a data test.
    Built by organisation and month in the monthly build (macros/incremental.sql): only the
    organisations and months whose staff in post changed are derived again, the
    organisation level from that organisation's month and the system level from the whole
    month, in two passes (one pass would derive every organisation of a changed month). -#}
{%- set extracts = ['staff_in_post'] %}
-- depends_on: {{ ref('stg_submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=incremental_full_refresh(),
    pre_hook=["{{ delete_changed(['staff_in_post']) }}"],
    post_hook=["{{ forget_inputs() }}", "{{ record_inputs(['staff_in_post']) }}"],
) }}
{%- set passes = [(['org_code'], []), ] if not is_incremental() else [(['org_code'],), ([],)] %}

with in_post as (

    select
        org_code,
        period,
        period_start_date,
        person_id as person_key,
        fte,
        {%- for d in dimensions %}
        coalesce({{ d }}, 'NOT_RECORDED') as {{ d }}_value{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_assignments_harmonised') }} as assignments
    where is_in_post and {{ in_changed('assignments', extracts, 'system') }}

),

-- Headcount as people_count() (macros/people.sql): the people with more than one
-- assignment in the month, at any organisation, marked (from int_person_months).
counted as (

    {{ with_more_assignments_flag('in_post', 'person_key') }}

),

{%- for levels in passes %}

breakdowns_{{ loop.index }} as (

    select
        period,
        period_start_date,
        {%- if levels | length == 2 %}
        case when grouping(org_code) = 0 then 'organisation' else 'system' end as level,
        case when grouping(org_code) = 0 then org_code else 'SYSTEM' end as org_code,
        {%- elif levels[0] %}
        'organisation' as level,
        org_code,
        {%- else %}
        'system' as level,
        'SYSTEM' as org_code,
        {%- endif %}
        case
            {%- for d in dimensions %}
            when grouping({{ d }}_value) = 0 then '{{ d }}'
            {%- endfor %}
            else 'total'
        end as dimension,
        coalesce(
            {%- for d in dimensions %}
            case when grouping({{ d }}_value) = 0 then {{ d }}_value end,
            {%- endfor %}
            'ALL'
        ) as dimension_value,
        {{ people_count('person_key') }} as headcount,
        {{ exact_sum('fte') }} as fte,
        count(*) as role_count
    from counted as assignments
    {%- if levels | length == 1 and levels[0] %}
    where {{ in_changed('assignments', extracts, 'organisation') }}
    {%- endif %}
    group by grouping sets (
        {%- for level in levels %}
        {%- set outer_last = loop.last %}
        ({{ (['period', 'period_start_date'] + level) | join(', ') }}),
        {%- for d in dimensions %}
        ({{ (['period', 'period_start_date'] + level + [d ~ '_value']) | join(', ') }}){{ ',' if not (loop.last and outer_last) }}
        {%- endfor %}
        {%- endfor %}
    )

),
{%- endfor %}

breakdowns as (

    {%- for levels in passes %}
    select * from breakdowns_{{ loop.index }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        cast(period as varchar) as period,
        cast(period_start_date as date) as period_start_date,
        cast(level as varchar) as level,
        cast(org_code as varchar) as org_code,
        cast(dimension as varchar) as dimension,
        cast(dimension_value as varchar) as dimension_value,
        cast(headcount as bigint) as headcount,
        cast(fte as {{ type_double() }}) as fte,
        cast(role_count as bigint) as role_count
    from breakdowns

)

select * from final
