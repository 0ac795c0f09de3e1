{#-
  Generic data tests written here because dbt packages (dbt_utils) cannot be installed
  offline. Each returns the failing rows.
-#}

{#- The combination of `combination_of_columns` is unique. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Every row satisfies the SQL boolean `expression`. -#}
{% test expression_is_true(model, expression) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}

{#- A numeric column lies within [min_value, max_value] (nulls pass). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select * from {{ model }}
where {{ column_name }} is not null and (
    {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif -%}
    {%- if min_value is not none and max_value is not none %} or{% endif -%}
    {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
)
{% endtest %}

{#- Distinct pseudonyms in `column_name` have distinct person_key()s: the guard that makes
    grouping, joining and counting people by person_key exact (see macros/person_key.sql).
    `also` names further models with the same column, whose people are joined to this
    model's by key, so that a collision between them is caught too. Returns each key shared
    by two or more pseudonyms (never the pseudonyms themselves).

    `held_by` names the model that holds each checked submission's people as (key, check)
    pairs (int_person_checks), built after this test and skipped when it fails. In an
    incremental build, the people of the submissions it holds were checked against each
    other when it took them, so a new collision needs a person of a submission it does not
    hold yet: only those are read, and their (key, check) pairs compared with each other and
    with the pairs it holds for current submissions (a key with two checks among the new
    people, or a held check unlike the new one). Two pseudonyms sharing a key are then
    found by their different checks (missed with probability 2^-64). In any other build,
    every pseudonym is read and compared exactly. The model is found by name, not ref(): a
    ref would make this test wait for it. -#}
{% test person_key_is_one_to_one(model, column_name, also=[], held_by=none) %}
{%- set models = [(model.identifier, model)] %}
{%- for other in also %}{% do models.append((other, ref(other))) %}{% endfor %}
{#- Which submissions are current (the macros below): a ref here, so that dbt sees it while it
    parses, when no incremental build is planned. -#}
{%- do ref('stg_submissions') %}
{%- set found = namespace(held=none) %}
{%- if held_by and checks_new_submissions_only() and execute %}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == held_by %}
        {%- set found.held = adapter.get_relation(node.database, node.schema, node.alias) %}
    {%- endfor %}
{%- endif %}
{%- if held_by and checks_new_submissions_only() %}
with
new_people as (
    {%- for name, relation in models %}
    select {{ person_key(column_name) }} as person_key, {{ person_check(column_name) }} as person_check
    from {{ relation }} as checked
    where {{ column_name }} is not null
        {%- if found.held is not none %}
        and {{ in_submissions_not_held('checked', none, found.held) }}
        {%- endif %}
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}
),
new_keys as (
    select person_key, min(person_check) as first_check, max(person_check) as last_check
    from new_people
    group by person_key
),
shared as (
    select person_key from new_keys where first_check <> last_check
    {%- if found.held is not none %}
    union
    select held.person_id
    from {{ found.held }} as held
    inner join new_keys on new_keys.person_key = held.person_id
    where held.person_check <> new_keys.first_check and {{ is_current_key('held', none) }}
    {%- endif %}
)
-- At least two pseudonyms share each key returned (a full build counts them).
select person_key, 2 as pseudonyms
from shared
{%- else %}
with pseudonyms as (
    {%- for name, relation in models %}
    select {{ column_name }} as value from {{ relation }}
    {{- '\n    union' if not loop.last }}
    {%- endfor %}
)
select {{ person_key('value') }} as person_key, count(*) as pseudonyms
from pseudonyms
where value is not null
group by {{ person_key('value') }}
having count(*) > 1
{%- endif %}
{% endtest %}
