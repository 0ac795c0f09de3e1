{#-
  Normalise a local job title for the job title map: lower case, accents removed, every run
  of other characters one space, trimmed; empty is null. Must agree with
  pipelines.standard.titles.normalise_title (a test holds them together).
  The default implementation (PostgreSQL-style regexp_replace) does not remove accents: use
  unaccent() there if the extension is installed.
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
