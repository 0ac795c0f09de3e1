{#-
  organisations_submitting(extracts): the (org_code, period_start_date) pairs with an
  accepted submission of every extract named - the organisations that take part in a
  month's figures built from those extracts. A figure that sets one extract beside another
  (temporary staffing or vacancies beside staff in post) or compares two censuses must not
  read a missing submission as zero.
-#}
{% macro organisations_submitting(extracts) -%}
    select org_code, period_start_date
    from {{ ref('stg_submissions') }}
    where submission_status = 'accepted'
        and extract_type in ({% for e in extracts %}'{{ e }}'{{ ', ' if not loop.last }}{% endfor %})
    group by org_code, period_start_date
    having count(distinct extract_type) = {{ extracts | length }}
{%- endmacro %}
