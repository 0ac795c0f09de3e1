{#- A 64-bit float on every adapter (dbt.type_float() is 32-bit on DuckDB). Models cast with
    this macro, never with a literal `double` (PostgreSQL has no type of that name); model
    contracts declare `data_type: double precision`, the SQL-standard name both DuckDB and
    PostgreSQL read as their 64-bit float (contracts take no macros). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'one_workforce')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{#- exact_sum(expr, over=none): the sum of a non-whole measure (FTE, days, hours, money),
    the same whatever order the rows come in. A float sum depends on the order of its
    additions, which a parallel aggregation does not fix: found in review, republishing the
    same submissions gave a system's FTE days available of 118104.16 one time and
    118104.160000001 the next, so `publications diff` reported sickness_absence changed
    when nothing had. Each value is taken to 9 decimal places and added exactly (a decimal
    sum), then given back as a float. The cost was not measurable (a grouping-sets sum of the
    national month's 1.5 million FTEs: 0.02 s either way). `over`: a window, for a share. -#}
{% macro exact_sum(expr, over=none) -%}
    cast(sum(cast({{ expr }} as decimal(38, 9))){% if over %} over ({{ over }}){% endif %} as {{ type_double() }})
{%- endmacro %}
