{#-
  Normalise a local job title for the job title map: lower case, accents removed, every run
  of other characters one space, trimmed; empty is null. Must agree with
  pipelines.standard.titles.normalise_title (a test holds them together).
  The default implementation (regexp_replace with flags) does not remove accents. PostgreSQL
  (13 and later, UTF8 database) removes them as Python does: compatibility decomposition
  (NFKD), then the combining marks of the combining-diacritics blocks dropped (Python drops
  every combining character: the two differ only for marks of other scripts, on letters the
  next step removes anyway). With the default, 'Infirmière' became 'infirmi re', a title the
  map does not know (unit test accented_titles_are_normalised_like_python).
-#}
{% macro normalise_title(expression) -%}
    {{ return(adapter.dispatch('normalise_title', 'one_workforce')(expression)) }}
{%- endmacro %}

{% macro default__normalise_title(expression) -%}
    nullif(trim(regexp_replace(lower({{ expression }}), '[^a-z0-9]+', ' ', 'g')), '')
{%- endmacro %}

{% macro duckdb__normalise_title(expression) -%}
    nullif(trim(regexp_replace(lower(strip_accents({{ expression }})), '[^a-z0-9]+', ' ', 'g')), '')
{%- endmacro %}

{% macro postgres__normalise_title(expression) -%}
    nullif(trim(regexp_replace(lower(regexp_replace(normalize({{ expression }}, NFKD),
        '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')),
        '[^a-z0-9]+', ' ', 'g')), '')
{%- endmacro %}
