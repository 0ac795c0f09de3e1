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

{#- people_count(key, where): the number of distinct people `key` among a group's rows (those
    of them for which the SQL condition `where` holds), read from rows that carry
    has_more_rows (with_more_rows_flag). -#}
{% macro people_count(key, where=none) -%}
    {%- set also = ' and (' ~ where ~ ')' if where else '' -%}
    (count(*) filter (where not has_more_rows{{ also }})
        + count(distinct case when has_more_rows{{ also }} then {{ key }} end))
{%- endmacro %}
