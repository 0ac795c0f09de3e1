{#- A 64-bit float on every adapter (dbt.type_float() is 32-bit on DuckDB). Models cast with
    this macro, never with a literal `double` (PostgreSQL has no type of that name); model
    contracts declare `data_type: double precision`, the SQL-standard name both DuckDB and
    PostgreSQL read as their 64-bit float (contracts take no macros). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'one_workforce')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}
