{#-
  The accepted submissions this build read, kept with the marts it built. The publication's
  manifest lists these, not raw.submissions as it stands when the publication is written: a
  submission accepted between the build and the publication (an `owf hub ingest` beside an
  `owf publish`) is not in these marts, so the manifest must not name it.
-#}
select
    submission_id,
    org_code,
    extract_type,
    period,
    package_sha256
from {{ ref('stg_submissions') }}
where submission_status = 'accepted'
