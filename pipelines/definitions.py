"""The Dagster code location: loads each stage's definitions and applies cross-cutting policy.

Stages (pipelines/defs/<stage>/): ingest (inbox sensor, raw tables), governance (registry
tables, retention, audit chain check), transform (the dbt models, their tests as checks),
publish (the quality gate and the publication).
Cross-cutting here: the hub resource every stage shares.
"""

import dagster as dg

from pipelines.defs import governance, ingest, publish, transform
from pipelines.defs.resources import HubResource

defs = dg.Definitions.merge(
    ingest.defs,
    governance.defs,
    transform.defs,
    publish.defs,
    dg.Definitions(resources={"hub": HubResource()}),
)
