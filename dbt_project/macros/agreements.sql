{#-
  Agreements in force on the day of the build. DOMAIN.md: an agreement is in force between
  its start and end dates and only while its status is active. Ingestion refuses what no
  agreement covers; these macros stop what was accepted earlier being used once that is no
  longer so - an agreement ended, suspended or past its end date, or an extract or a field it
  no longer lists - without changing anything stored: raw keeps the submission as accepted,
  and the build reads it again if an agreement comes back into force.

  The local choice (documented in stg_submissions.yml and docs/governance.md): a submission is
  used while any agreement in force on the build day covers its organisation and extract, not
  only the one it arrived under, so a renewed agreement keeps the months shared under the old
  one; and a field is used while such an agreement lists it.
-#}

{#- as_of_date(): the build day. The var `as_of_date` (YYYY-MM-DD) sets it - the tests do, to
    be independent of the calendar - else the environment variable OWF_AS_OF_DATE - the
    Dagster build step sets it to the day it fingerprinted - otherwise the database's current
    date. Not a var there: dbt parses the whole project again (about 2.4 s) whenever its vars
    change, so a var of the day made every new day's first build do that. The environment
    variable is read only when dbt runs the SQL (`execute`), never while it parses: dbt
    re-parses every model that read a changed environment variable while parsing (six, 0.8 s),
    and the day changes no ref or config. -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) or (env_var('OWF_AS_OF_DATE', '') if execute else '') -%}
    {%- if value -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string) -%}
            {{ exceptions.raise_compiler_error("the build day (var as_of_date, or OWF_AS_OF_DATE) must be written YYYY-MM-DD, not " ~ value) }}
        {%- endif -%}
        cast('{{ value }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}

{#- in_force(alias): the condition that the governance.agreement_extracts row `alias` is in
    force on the build day. -#}
{% macro in_force(alias) -%}
    {{ alias }}.status = 'active'
    and {{ alias }}.start_date <= {{ as_of_date() }}
    and {{ alias }}.end_date >= {{ as_of_date() }}
{%- endmacro %}

{#- field_permissions(extract, fields): one row per organisation with an agreement in force for
    `extract`, and a boolean may_<field> for each field named: whether one of them lists it. -#}
{% macro field_permissions(extract, fields) -%}
    select
        agreements.org_code
        {%- for f in fields %},
        max(case when fields.field = '{{ f }}' then 1 else 0 end) = 1 as may_{{ f }}
        {%- endfor %}
    from {{ source('governance', 'agreement_extracts') }} as agreements
    inner join {{ source('governance', 'agreement_fields') }} as fields
        on fields.agreement_id = agreements.agreement_id and fields.extract = agreements.extract
    where agreements.extract = '{{ extract }}' and {{ in_force('agreements') }}
    group by agreements.org_code
{%- endmacro %}
