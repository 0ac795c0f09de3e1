"""Governance: the registry tables, retention, and the audit chain check."""

import dagster as dg

from pipelines.defs.ingest import AUDIT_KEY
from pipelines.defs.resources import WAREHOUSE_POOL, HubResource, waits_logged
from pipelines.hub import audit
from pipelines.hub.retention import purge_expired
from pipelines.hub.warehouse import connect, refresh_governance_tables

AUDIT_CHAIN_CHECK = "audit_chain_intact"
REGISTRY_KEYS = [
    dg.AssetKey(["governance", "organisations"]),
    dg.AssetKey(["governance", "agreement_extracts"]),
    dg.AssetKey(["governance", "agreement_fields"]),
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            REGISTRY_KEYS[0],
            group_name="governance",
            kinds={"duckdb"},
            description="The organisation registry, copied into the warehouse.",
        ),
        dg.AssetSpec(
            REGISTRY_KEYS[1],
            group_name="governance",
            kinds={"duckdb"},
            description="Which organisation may share which extract, under which agreement, when.",
        ),
        dg.AssetSpec(
            REGISTRY_KEYS[2],
            group_name="governance",
            kinds={"duckdb"},
            description="The fields each agreement lets each extract carry.",
        ),
    ],
    pool=WAREHOUSE_POOL,
    name="registry_tables",
)
def registry_tables(context: dg.AssetExecutionContext, hub: HubResource):
    """Copy governance/ (organisations, agreements) into the warehouse for the models."""
    from pipelines.governance import load_governance
    from pipelines.hub.warehouse import ensure_schema
    from pipelines.standard import load_standard

    paths = hub.paths()
    gov = load_governance(paths.governance)
    with waits_logged(context), connect(paths) as wh:
        ensure_schema(wh, load_standard())
        refresh_governance_tables(wh, gov)
    yield dg.MaterializeResult(
        asset_key=REGISTRY_KEYS[0], metadata={"organisations": len(gov.organisations)}
    )
    yield dg.MaterializeResult(
        asset_key=REGISTRY_KEYS[1], metadata={"agreements": len(gov.agreements)}
    )


@dg.op(
    pool=WAREHOUSE_POOL,
    description="Purge submissions past their agreement's retention period (logged).",
)
def purge_expired_submissions(context: dg.OpExecutionContext, hub: HubResource) -> int:
    with waits_logged(context):
        purged = purge_expired(hub.paths(), actor=f"dagster:{context.run.run_id[:8]}")
    for p in purged:
        context.log.info(
            f"purged {p.submission_id} ({p.org_code} {p.extract} {p.period}): {p.rows} rows"
        )
    context.add_output_metadata({"purged": len(purged), "rows": sum(p.rows for p in purged)})
    return len(purged)


@dg.job(description="Retention: purge record-level submissions past their retention period.")
def retention_job():
    purge_expired_submissions()


retention_schedule = dg.ScheduleDefinition(
    job=retention_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.asset_check(
    asset=AUDIT_KEY,
    name=AUDIT_CHAIN_CHECK,
    blocking=True,
    description="The audit log's hash chain is intact: no row edited, deleted or reordered.",
)
def audit_chain_intact(hub: HubResource) -> dg.AssetCheckResult:
    paths = hub.paths()
    if not paths.warehouse.exists():
        return dg.AssetCheckResult(
            passed=False, description="no warehouse yet: nothing to verify", metadata={"rows": 0}
        )
    with connect(paths, write=False) as wh:
        rows, problems = audit.verify(wh, audit.read_head(paths), head_expected=True)
    return dg.AssetCheckResult(
        passed=not problems and rows > 0,
        metadata={"rows": rows, "problems": [p.message for p in problems][:20]},
        description=problems[0].message if problems else f"{rows} rows, chain intact",
    )


defs = dg.Definitions(
    # registry_tables is the asset behind the dbt sources governance/*: registered here, it is
    # upstream of the models, so models_job and publish_job refresh the registry first.
    assets=[registry_tables],
    jobs=[retention_job],
    schedules=[retention_schedule],
    asset_checks=[audit_chain_intact],
)
