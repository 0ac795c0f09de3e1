{#-
  person_key(column): a fixed-width stand-in for a person pseudonym, for counting distinct
  people and grouping by person inside one query. Pseudonyms are 64-character strings;
  hashing, comparing and de-duplicating 1.5 million of them is most of the cost of the
  headcount marts at national scale, and a 64-bit integer does the same job about three
  times faster (fct_workforce_in_post alone: 4.3 s -> 1.5 s, docs/benchmarks.md).

  DuckDB: hash(column), a 64-bit hash. Two different pseudonyms with the same hash would be
  counted as one person; the pseudonyms are HMAC outputs, so that happens with probability
  about n^2 / 2^65 (1 in 9 million for 2 million people), and the data test
  `person_key_is_one_to_one` (on every column whose people are counted) fails the build,
  holding the publication back, if it ever does, so a collision can never make a figure
  silently wrong. Other databases: the pseudonym itself (exact).

  Only ever used inside a model: no table stores a person_key.
-#}
{% macro person_key(column) -%}
    {{ return(adapter.dispatch('person_key', 'one_workforce')(column)) }}
{%- endmacro %}

{% macro default__person_key(column) -%}
    {{ column }}
{%- endmacro %}

{#- The var person_key_modulus exists only to test the guard: a tiny modulus forces
    collisions (tests/integration/test_models.py). Never set it in production. -#}
{% macro duckdb__person_key(column) -%}
    {%- set modulus = var('person_key_modulus', none) -%}
    hash({{ column }}){% if modulus %} % {{ modulus | int }}{% endif %}
{%- endmacro %}
