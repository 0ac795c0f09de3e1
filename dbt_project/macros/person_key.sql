{#-
  person_key(column): a fixed-width stand-in for a person pseudonym. Pseudonyms are
  64-character strings; hashing, comparing, sorting and de-duplicating millions of them was
  most of the cost of the person-level models at national scale, and a 64-bit integer does
  the same job faster (dbt build of the national month: 18.1-21.4 s -> 13.5 s,
  docs/benchmarks.md). The staging models turn person_id into this key; every later model
  groups, joins and counts people by it, and no later model holds the pseudonym.

  DuckDB: hash(column), a 64-bit hash. Two different pseudonyms with the same hash would be
  taken for one person; the pseudonyms are HMAC outputs, so that happens with probability
  about n^2 / 2^65 (1 in 9 million for 2 million people), and the data test
  `person_key_is_one_to_one` (on stg_staff_in_post.person_pseudonym, together with the
  leavers' and sickness pseudonyms) fails the build, holding the publication back, if it
  ever does, so a collision can never make a figure silently wrong: rotate the hub key
  (docs/hub.md) and the next build has new keys. Other databases: the pseudonym itself
  (exact).

  Incremental monthly builds keep the keys of earlier builds (macros/incremental.sql); the
  DuckDB version is part of the build's fingerprint, so a new version (whose hash might
  differ) forces a full build, and keys never need to be stable between DuckDB versions.
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
