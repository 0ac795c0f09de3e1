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
    by two or more pseudonyms (never the pseudonyms themselves). -#}
{% test person_key_is_one_to_one(model, column_name, also=[]) %}
with pseudonyms as (
    select {{ column_name }} as value from {{ model }}
    {%- for other in also %}
    union
    select {{ column_name }} from {{ ref(other) }}
    {%- endfor %}
)
select {{ person_key('value') }} as person_key, count(*) as pseudonyms
from pseudonyms
where value is not null
group by {{ person_key('value') }}
having count(*) > 1
{% endtest %}
