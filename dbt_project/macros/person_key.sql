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

{#-
  person_check(column): a second 64-bit value of a pseudonym, independent of its person_key,
  kept beside the key in int_person_checks so that an incremental build's guard can compare a
  new pseudonym with the people already held without reading and hashing every pseudonym
  the warehouse holds (docs/models.md, "The person-key guard").

  DuckDB: the pseudonym's first 16 hexadecimal digits as an unsigned 64-bit integer. A stage-2
  pseudonym is an HMAC-SHA256 output, so these bits are uniformly distributed and unrelated to
  DuckDB's hash of the whole string: two different pseudonyms with the same key have the same
  check with probability 2^-64. They say nothing more than the key does about the person (the
  pseudonym is keyed under K_hub). PostgreSQL: the same bits as a signed 64-bit integer
  (its person_key is the pseudonym itself, so the guard can never fire there). Other
  databases: the 16 digits as text.
-#}
{% macro person_check(column) -%}
    {{ return(adapter.dispatch('person_check', 'one_workforce')(column)) }}
{%- endmacro %}

{% macro default__person_check(column) -%}
    substr({{ column }}, 1, 16)
{%- endmacro %}

{% macro postgres__person_check(column) -%}
    cast(cast('x' || substr({{ column }}, 1, 16) as bit(64)) as bigint)
{%- endmacro %}

{% macro duckdb__person_check(column) -%}
    cast('0x' || substr({{ column }}, 1, 16) as ubigint)
{%- endmacro %}
