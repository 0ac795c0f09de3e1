{#-
  refresh_statistics(relation): a post-hook of the intermediate and mart tables. PostgreSQL
  plans a query from table statistics, which a table just created has none of until
  autovacuum gets to it; the next model of the build then reads it with guesses (a few rows)
  and picks nested loops: fct_flows_between_organisations took 26 s instead of 1 s on the
  demo warehouse. ANALYZE right after creating each table fixes that. DuckDB needs nothing
  (the default emits no statement, and dbt skips an empty hook).
-#}
{% macro refresh_statistics(relation) -%}
    {{ return(adapter.dispatch('refresh_statistics', 'one_workforce')(relation)) }}
{%- endmacro %}

{% macro default__refresh_statistics(relation) -%}{%- endmacro %}

{% macro postgres__refresh_statistics(relation) -%}
    analyze {{ relation }}
{%- endmacro %}
