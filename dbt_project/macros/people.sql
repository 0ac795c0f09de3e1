{#-
  Counting distinct people quickly. `count(distinct person)` keeps a hash table of people for
  every group, and a mart that counts people at every level and breakdown of a national month
  (1.4 million assignments, twelve grouping sets) spent most of its time there:
  fct_workforce_in_post's system level alone took 1.0 s on two cores. But only about 2% of
  people have more than one row in a month; everyone else is one row, so that in any group
  they are in, counting their rows counts them. The models therefore mark the rows of people
  with more than one row (with_more_rows_flag) and count people as the rows of the others
  plus the distinct people among the marked rows (people_count): the same number, the
  system level in 0.3 s (docs/benchmarks.md).

  Exact for any grouping within the period: a person's rows are all marked or none is, so
  the two terms count different people, and a person not marked has one row in the period,
  so at most one in any group of it.
-#}

{#- with_more_rows_flag(rows, key, within): every column of the CTE `rows`, and
    `has_more_rows`: whether the person `key` has more than one row in `rows` for the same
    values of the columns `within` (the period). -#}
{% macro with_more_rows_flag(rows, key, within) -%}
    select {{ rows }}.*, more.{{ key }} is not null as has_more_rows
    from {{ rows }}
    left join (
        select {{ (within + [key]) | join(', ') }}
        from {{ rows }}
        group by {{ (within + [key]) | join(', ') }}
        having count(*) > 1
    ) as more
        on {% for c in within + [key] %}more.{{ c }} = {{ rows }}.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
{%- endmacro %}

{#- with_more_assignments_flag(rows, key): every column of the CTE `rows`, whose rows are
    in-post assignments of a month (all of them, or some: one organisation's, the
    substantive ones), and `has_more_rows`: whether the person `key` has more than one
    assignment in post in that month, anywhere - their system row in int_person_months has
    assignment_count above 1. A person not marked then has at most one row in `rows` in the
    month, and a person's rows are all marked or none is, which is all people_count() needs
    (a marked person with one row is counted once by its distinct term). Read from the model
    already built rather than grouping every assignment again: 0.06-0.1 s of CPU less per
    mart on the national month, and the marts that use it come after int_person_months in
    the build, instead of holding both threads while it waits (dbt starts nodes of the same
    depth by name; docs/benchmarks.md). -#}
{% macro with_more_assignments_flag(rows, key) -%}
    select {{ rows }}.*, more.person_id is not null as has_more_rows
    from {{ rows }}
    left join (
        select period_start_date, person_id
        from {{ ref('int_person_months') }}
        where level = 'system' and assignment_count > 1
    ) as more
        on more.period_start_date = {{ rows }}.period_start_date and more.person_id = {{ rows }}.{{ key }}
{%- endmacro %}

{#- people_count(key, where): the number of distinct people `key` among a group's rows (those
    of them for which the SQL condition `where` holds), read from rows that carry
    has_more_rows (with_more_rows_flag). -#}
{% macro people_count(key, where=none) -%}
    {%- set also = ' and (' ~ where ~ ')' if where else '' -%}
    (count(*) filter (where not has_more_rows{{ also }})
        + count(distinct case when has_more_rows{{ also }} then {{ key }} end))
{%- endmacro %}
