select
    period,
    org_code,
    check_name,
    case when check_name like 'completeness_%' then value end as share_complete,
    case when check_name like 'completeness_%' then base_count end as assignments,
    -- The assignments with the field filled: controlled, not published (pub_data_quality.yml),
    -- so that the share is worked out from it rounded, as published counts are.
    case when check_name like 'completeness_%' then cast(round(value * base_count) as bigint) end as complete_assignments,
    case when check_name not like 'completeness_%' and check_name <> 'missing_submissions' then value end as affected_count,
    case when check_name = 'missing_submissions' then value end as missing_submissions,
    -- The count of distinct unmapped titles is not published: beside a suppressed
    -- affected_count it bounded it from below (found in review: "5 distinct titles" left
    -- 5..9 of a suppressed 1..9). The other details (the extracts missing) are not counts.
    case when check_name <> 'unmapped_job_titles' then details end as details,
    status
from {{ ref('fct_data_quality') }}
-- The system-level check (org_code SYSTEM) is for the hub's engineers: no organisation's
-- agreement covers a SYSTEM row, and its people are counted in their organisations' rows.
where org_code <> 'SYSTEM'
