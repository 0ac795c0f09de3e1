"""Publish: the quality gate on the marts and the write-audit-publish publication.

- Every mart has a blocking Great Expectations check (plus one cross-table check that every
  organisation with an active agreement is present); dbt's error-severity tests are blocking
  checks too (dagster-dbt), warn-severity ones are shown but do not block.
- The publication asset depends on the published dbt views, so Dagster runs it only when every
  blocking check upstream has passed in the same run; it then writes the disclosure-controlled
  publication and swaps it in atomically.
- publish_job runs the whole cycle (registry, dbt build, checks, publication): monthly on a
  schedule, and after any ingestion run that accepted a submission (republication).

(No `from __future__ import annotations`: Dagster reads the annotations at definition time.)
"""

import json

import dagster as dg

from pipelines.defs.governance import retention_job
from pipelines.defs.ingest import SUBMISSIONS_KEY
from pipelines.defs.resources import WAREHOUSE_POOL, HubResource, run_hub, waits_logged
from pipelines.defs.transform import workforce_models
from pipelines.hub.warehouse import warehouse_lock
from pipelines.quality.mart_checks import MART_SUITES, run_mart_suites

PUBLICATION_KEY = dg.AssetKey(["publications", "latest"])


def _published_view_keys() -> list[dg.AssetKey]:
    from pipelines.publish.publication import published_models

    return [dg.AssetKey(["published", m.view]) for m in published_models()]


MART_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name=f"gx_{suite}",
        asset=dg.AssetKey(["marts", mart]),
        blocking=True,
        description=f"Great Expectations suite expectations/{suite}.json (blocks publication).",
    )
    for suite, mart in MART_SUITES.items()
]


@dg.multi_asset_check(specs=MART_CHECK_SPECS, name="mart_quality_gate")
def mart_quality_gate(context: dg.AssetCheckExecutionContext, hub: HubResource):
    """Run every mart suite; each suite's result is its check's result (a suite that produced
    no result fails)."""
    paths = hub.paths()
    with waits_logged(context), warehouse_lock(paths):
        results = {c.suite: c for c in run_mart_suites(paths)}
    for suite, mart in MART_SUITES.items():
        check = results.get(suite)
        if check is None:
            yield dg.AssetCheckResult(
                check_name=f"gx_{suite}",
                asset_key=dg.AssetKey(["marts", mart]),
                passed=False,
                description=f"{suite} produced no result",
            )
            continue
        failures = [
            {"rule": f.rule, **{k: str(v) for k, v in f.keys.items()}}
            for f in check.result.failures
        ]
        yield dg.AssetCheckResult(
            check_name=f"gx_{suite}",
            asset_key=dg.AssetKey(["marts", mart]),
            passed=check.result.success,
            description=check.describe(),
            metadata={
                "failing_organisations": check.failing_orgs,
                "failures": failures[:50],
                "expectations": check.result.evaluated,
            },
        )


def run_check_results(context) -> list[dict]:
    """Every asset check evaluated in this run, with its outcome."""
    return _check_results(context.instance, context.run.run_id)


def _check_results(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        out.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "passed": bool(evaluation.passed),
                "severity": str(evaluation.severity.value if evaluation.severity else "ERROR"),
            }
        )
    return sorted(out, key=lambda c: (c["asset"], c["check"]))


@dg.asset(
    key=PUBLICATION_KEY,
    # The gated marts as direct deps: Dagster then holds this step until their blocking checks
    # have run, and skips it if one failed (the published views alone are not enough: they are
    # built in the same dbt step as the marts, before the gate runs).
    deps=_published_view_keys()
    + sorted({dg.AssetKey(["marts", m]) for m in MART_SUITES.values()}, key=str),
    group_name="publish",
    kinds={"duckdb", "parquet", "csv"},
    owners=["team:system-data-engineering"],
    pool=WAREHOUSE_POOL,
    description="The disclosure-controlled publication for planners: publications/<version>/, and"
    " publications/latest pointing at it. Runs only when every blocking check upstream passed.",
)
def publication(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
    from pipelines.publish.publication import publish

    checks = run_check_results(context)
    failed = [c for c in checks if not c["passed"] and c["severity"] == "ERROR"]
    if failed:  # Dagster holds this asset back on a failed blocking check; this is belt and braces
        raise dg.Failure(description=f"blocking checks failed: {failed}")
    with waits_logged(context):
        folder = publish(hub.paths(), checks=checks, actor=f"dagster:{context.run.run_id[:8]}")
    disclosure = json.loads((folder / "manifest.json").read_text())["disclosure"]
    # How many (table, month)s were disclosure-controlled for this publication, and how many
    # carried forward unchanged from the one before (pipelines.publish.carry).
    carried = {
        k: disclosure[k] for k in ("months_controlled", "months_carried_forward") if k in disclosure
    }
    return dg.MaterializeResult(
        metadata={
            "version": folder.name,
            "path": dg.MetadataValue.path(str(folder)),
            "checks_passed": sum(c["passed"] for c in checks),
            **carried,
        }
    )


publish_job = dg.define_asset_job(
    "publish_job",
    # Every dbt model (not only those upstream of the publication: dbt's tests read seeds the
    # published views do not), the registry tables, the gate and the publication.
    selection=(
        dg.AssetSelection.assets(workforce_models).upstream()
        | dg.AssetSelection.assets(PUBLICATION_KEY).upstream()
    )
    - dg.AssetSelection.groups("ingest"),
    description="The monthly cycle after ingestion: registry, dbt build and tests, the quality gate,"
    " and - only if every blocking check passes - a new publication.",
)

monthly_publication = dg.ScheduleDefinition(
    name="monthly_publication",
    job=publish_job,
    cron_schedule="0 6 10 * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="On the 10th of each month, once the month's submissions are in.",
)


@dg.sensor(
    job=publish_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Republish after ingestion runs that accepted a submission (a resubmission"
    " included): one publish run for every ingestion run since the last tick that accepted one.",
)
def republish_on_accepted_submission(context: dg.SensorEvaluationContext):
    """Every materialization of raw/submissions since the cursor, not only the newest (what
    dg.asset_sensor looks at): ingestion runs queue for the warehouse and finish one after
    another, and a run that accepted nothing must not hide an earlier one that did."""
    after = int(context.cursor) if context.cursor else None
    # What the latest publication was built from is published already: without a cursor (a
    # new daemon, `make dev` after `make demo`) the sensor used to read every ingestion run
    # ever made and publish again what the demo had just published (found in review). An
    # ingestion run recorded before the publish run that made the latest publication
    # started had landed before that run's build: it is in it. (Not "before the
    # publication": a run landing during another publish run's build was recorded before
    # that publication and is not in it - found in re-review.)
    published_from = _latest_publication_started(context.instance)
    accepted_in: list[str] = []
    while True:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SUBMISSIONS_KEY, after_storage_id=after),
            limit=1000,
            ascending=True,
        ).records
        if not records:
            break
        for record in records:
            after = record.storage_id
            materialization = record.asset_materialization
            accepted = materialization.metadata.get("accepted") if materialization else None
            if published_from is not None and record.timestamp < published_from:
                continue
            if accepted is not None and accepted.value and record.run_id not in accepted_in:
                accepted_in.append(record.run_id)
    if after is not None:
        context.update_cursor(str(after))
    if not accepted_in:
        yield dg.SkipReason(
            "no ingestion run since the last publication request accepted a submission"
        )
        return
    # One publication covers them all; keyed on the newest such run, so it is asked for once.
    yield dg.RunRequest(
        run_key=f"republish-after-{accepted_in[-1]}",
        tags={"owf/after-ingest-runs": ",".join(r[:8] for r in accepted_in)[:200]},
    )


def _latest_publication_started(instance: dg.DagsterInstance) -> float | None:
    """When the run that made the latest publication started (epoch seconds), if known."""
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=PUBLICATION_KEY), limit=1, ascending=False
    ).records
    if not latest:
        return None
    run = instance.get_run_record_by_id(latest[0].run_id)
    return run.start_time if run is not None else None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[retention_job],
    request_job=publish_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a retention run that purged submissions, rebuild every model (and"
    " republish) so that no derived table keeps the purged rows.",
)
def rebuild_after_purge(context: dg.RunStatusSensorContext):
    purged = purged_in_run(context.instance, context.dagster_run.run_id)
    if not purged:
        return dg.SkipReason("the retention run purged nothing")
    return dg.RunRequest(run_key=f"rebuild-after-purge-{context.dagster_run.run_id}")


def purged_in_run(instance: dg.DagsterInstance, run_id: str) -> int:
    """How many submissions a retention run purged (its op's output metadata)."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        metadata = record.dagster_event.step_output_data.metadata or {}
        if "purged" in metadata:
            return int(metadata["purged"].value)
    return 0


@dg.run_failure_sensor(
    monitored_jobs=[publish_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Record in the audit log that a publication was held back, and why.",
)
def record_blocked_publication(context: dg.RunFailureSensorContext, hub: HubResource):
    from pipelines.cli_publish import RECORDED_TAG
    from pipelines.publish.publication import record_blocked

    if context.dagster_run.tags.get(RECORDED_TAG):
        return  # `owf publish` started the run and recorded it
    failed = blocking_failures(context.instance, context.dagster_run.run_id)
    record_blocked(
        run_hub(context.dagster_run, hub).paths(),
        failed,
        actor=f"dagster:{context.dagster_run.run_id[:8]}",
    )


def blocking_failures(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """The error-severity checks that failed in a run: what held its publication back (a
    failed warn-severity check blocks nothing, as in the manifest and `owf publish`)."""
    return [
        {"asset": c["asset"], "check": c["check"]}
        for c in _check_results(instance, run_id)
        if not c["passed"] and c["severity"] == "ERROR"
    ]


defs = dg.Definitions(
    assets=[publication],
    asset_checks=[mart_quality_gate],
    jobs=[publish_job],
    schedules=[monthly_publication],
    sensors=[republish_on_accepted_submission, record_blocked_publication, rebuild_after_purge],
)
