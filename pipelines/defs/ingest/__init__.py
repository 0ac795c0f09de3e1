"""Ingestion: the inbox sensor, the raw tables it lands into, and the ingest job.

(No `from __future__ import annotations` in defs modules: Dagster reads the config and
resource annotations at definition time.)
"""

import hashlib
import json
import struct
import time
from pathlib import Path

import dagster as dg

from pipelines.defs.partitions import PERIODS
from pipelines.defs.resources import WAREHOUSE_POOL, HubResource, waits_logged
from pipelines.hub.ingest import inbox_packages, ingest
from pipelines.standard import load_standard
from pipelines.submission.package import MAGIC

INGEST_ASSET = "ingest_submissions"
SUBMISSIONS_KEY = dg.AssetKey(["raw", "submissions"])
AUDIT_KEY = dg.AssetKey(["audit", "events"])
OWNERS = ["team:system-data-engineering"]
MIN_FILE_AGE_SECONDS = 2.0


def raw_extract_keys() -> list[dg.AssetKey]:
    return [dg.AssetKey(["raw", name]) for name in load_standard().extracts]


class IngestConfig(dg.Config):
    """Package files to ingest; empty means every package in the inbox for the run's periods."""

    packages: list[str] = []


def _specs() -> list[dg.AssetSpec]:
    std = load_standard()
    specs = [
        dg.AssetSpec(
            SUBMISSIONS_KEY,
            description="Every package received, with its decision (accepted, superseded, quarantined,"
            " refused, released, discarded, purged), agreement, key epochs and lineage.",
            group_name="ingest",
            kinds={"duckdb"},
            owners=OWNERS,
        ),
        dg.AssetSpec(
            AUDIT_KEY,
            description="Hash-chained audit log of every hub event (owf audit verify).",
            group_name="ingest",
            kinds={"duckdb"},
            owners=OWNERS,
        ),
    ]
    for name, extract in std.extracts.items():
        specs.append(
            dg.AssetSpec(
                ["raw", name],
                description=f"{extract.title}: accepted submissions' rows, stage-2 pseudonyms, one row per"
                f" {extract.grain.removeprefix('one row per ')}; standard v{std.version}, submitted form.",
                group_name="ingest",
                kinds={"duckdb"},
                owners=OWNERS,
                metadata={"standard_version": std.version, "grain": extract.grain},
            )
        )
    return specs


@dg.multi_asset(
    name=INGEST_ASSET,
    specs=_specs(),
    partitions_def=PERIODS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    can_subset=False,
    description="Verify, check against the agreements, decrypt, validate (standard + GX), re-key and"
    " land the packages of the run's periods.",
)
def ingest_submissions(context: dg.AssetExecutionContext, config: IngestConfig, hub: HubResource):
    paths = hub.paths()
    periods = set(context.partition_keys)
    if config.packages:
        packages = [Path(p) for p in config.packages]
    else:
        packages = [p for p in inbox_packages(paths) if run_period(p) in periods]
    context.log.info(
        f"ingesting {len(packages)} package(s) for {len(periods)} period(s) into {paths.warehouse}"
    )
    with waits_logged(context):
        result = ingest(
            paths, packages, progress=context.log.info, actor=f"dagster:{context.run.run_id[:8]}"
        )
    if result.gone:
        context.log.info(
            f"{len(result.gone)} package(s) had left the inbox: another run took them (see its"
            " receipts); nothing recorded for them here"
        )
    summary = result.summary()
    by_org = result.by_org()
    problems = [
        {"package": p.path.name, "status": p.status, "reason": p.reason}
        for p in result.outcomes
        if p.status in ("quarantined", "refused")
    ]
    common = {
        "packages": dg.MetadataValue.int(len(packages)),
        **{k: dg.MetadataValue.int(v) for k, v in summary.items()},
        "filed_for_earlier_run": dg.MetadataValue.int(result.filed_for_earlier_run),
        "seconds": dg.MetadataValue.float(result.seconds),
    }
    yield dg.MaterializeResult(
        asset_key=SUBMISSIONS_KEY,
        metadata={
            **common,
            "by_organisation": dg.MetadataValue.json(by_org),
            "not_accepted": dg.MetadataValue.json(problems[:200]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=AUDIT_KEY, metadata={"events_written": dg.MetadataValue.int(len(result.outcomes))}
    )
    for key in raw_extract_keys():
        extract = key.path[-1]
        landed = sum(
            p.rows_landed
            for p in result.outcomes
            if p.status in ("accepted", "superseded") and p.manifest.get("extract") == extract
        )
        yield dg.MaterializeResult(
            asset_key=key, metadata={"rows_landed": dg.MetadataValue.int(landed)}
        )


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(ingest_submissions),
    description="Ingest packages for one or more periods (single run for a range of periods).",
)


def package_period(path: Path) -> str | None:
    """The period a package's manifest claims (read without decrypting; not trusted yet)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
            if head[:8] != MAGIC:
                return None
            (n,) = struct.unpack(">I", head[8:12])
            manifest = json.loads(fh.read(min(n, 1 << 20)))
    except (OSError, ValueError, struct.error):
        return None
    # Anyone's bytes until the run verifies them: a manifest that is not an object, or whose
    # period is not text, has no period here (the run refuses it as a damaged manifest).
    period = manifest.get("period") if isinstance(manifest, dict) else None
    return period if isinstance(period, str) else None


def run_period(path: Path) -> str:
    """The partition whose run takes a package: the period its manifest claims, or - when that
    cannot be read or is no partition (a malformed period, the month under way, a month not
    yet begun) - the latest period, whose run refuses it. The sensor,
    a run of the whole inbox and `owf hub ingest` all place a package by this, so none of
    them leaves a package in the inbox that another would have taken."""
    period = package_period(path)
    if period is not None and PERIODS.has_partition_key(period):
        return period
    return PERIODS.get_last_partition_key()


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Turns each new package in the inbox into work: one run per period, each package"
    " requested once (the cursor remembers what was requested while it waits in the inbox).",
)
def inbox_sensor(context: dg.SensorEvaluationContext, hub: HubResource) -> dg.SensorResult:
    paths = hub.paths()
    paths.ensure()
    cursor = json.loads(context.cursor) if context.cursor else {"requested": []}
    requested = set(cursor.get("requested", []))
    now = time.time()
    present: dict[str, Path] = {}
    for p in inbox_packages(paths):
        try:
            if now - p.stat().st_mtime < MIN_FILE_AGE_SECONDS:
                continue  # still being written
            present[_file_key(p)] = p
        except FileNotFoundError:
            continue
    new = {k: p for k, p in present.items() if k not in requested}
    by_period: dict[str, list[Path]] = {}
    for p in new.values():
        by_period.setdefault(run_period(p), []).append(p)
    requests = []
    file_keys = {p: k for k, p in new.items()}
    for period, files in sorted(by_period.items()):
        names = sorted(str(f) for f in files)
        # Keyed on the files as they are now (name, size, time), not their names alone: Dagster
        # starts no run for a run key used before, and a package delivered again after the hub
        # took it (same name) must still be taken, as a duplicate.
        keys = sorted(file_keys[f] for f in files)
        run_key = f"{period}:{hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]}"
        requests.append(
            dg.RunRequest(
                run_key=run_key,
                partition_key=period,
                run_config=dg.RunConfig(ops={INGEST_ASSET: IngestConfig(packages=names)}),
                tags={"owf/packages": str(len(names))},
            )
        )
    # Remember what was requested while it is still in the inbox; forget what has left it.
    remembered = sorted((requested | set(new)) & set(present))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"requested": remembered}))


defs = dg.Definitions(assets=[ingest_submissions], jobs=[ingest_job], sensors=[inbox_sensor])
