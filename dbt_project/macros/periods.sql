{#-
  Periods are census months, 'YYYY-MM'. Models compare dates (portable); these macros turn
  one into the other. Anything adapter-specific goes through adapter.dispatch with a default.
-#}

{% macro period_start(period) -%}
    cast({{ dbt.concat([period, "'-01'"]) }} as date)
{%- endmacro %}

{% macro period_label(date_expression) -%}
    {{ return(adapter.dispatch('period_label', 'one_workforce')(date_expression)) }}
{%- endmacro %}

{% macro default__period_label(date_expression) -%}
    to_char({{ date_expression }}, 'YYYY-MM')
{%- endmacro %}

{% macro duckdb__period_label(date_expression) -%}
    strftime({{ date_expression }}, '%Y-%m')
{%- endmacro %}

{% macro census_date(period_start_date) -%}
    {{ dbt.last_day(period_start_date, 'month') }}
{%- endmacro %}
