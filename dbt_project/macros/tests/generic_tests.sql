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

    `built_by` maps a model (this one or one in `also`) to the mart whose recorded
    submissions it stands for (macros/incremental.sql): in an incremental build, pseudonyms
    of those submissions were checked against each other when the mart was built, so a new
    collision needs a pseudonym of a submission not yet built. Only the keys of those
    (and of every row of a model not in `built_by`) are then checked, against every
    pseudonym; in any other build, every key. -#}
{% test person_key_is_one_to_one(model, column_name, also=[], built_by={}) %}
{%- set models = [(model.identifier, model)] %}
{%- for other in also %}{% do models.append((other, ref(other))) %}{% endfor %}
{%- set new_only = checks_new_submissions_only() %}
{%- set submissions = ref('stg_submissions') %}
with
{%- if new_only %}
candidates as (
    {%- for name, relation in models %}
    select {{ person_key(column_name) }} as person_key from {{ relation }} as checked
    where {{ not_yet_built('checked', built_by[name], submissions) if name in built_by else 'true' }}
    {{- '\n    union' if not loop.last }}
    {%- endfor %}
),
{%- endif %}
pseudonyms as (
    {%- for name, relation in models %}
    select {{ column_name }} as value from {{ relation }}
    {%- if new_only %}
    where {{ person_key(column_name) }} in (select person_key from candidates)
    {%- endif %}
    {{- '\n    union' if not loop.last }}
    {%- endfor %}
)
select {{ person_key('value') }} as person_key, count(*) as pseudonyms
from pseudonyms
where value is not null
group by {{ person_key('value') }}
having count(*) > 1
{% endtest %}
