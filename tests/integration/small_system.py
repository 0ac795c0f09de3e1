"""A small system taken through submission and ingestion, shared by the model and publication
tests: four organisations of three sectors (two NHS trusts, a social care provider, a
hospice), 14 monthly censuses at half size, every extract, through `owf submit` and the
real Dagster ingest job."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import yaml

from pipelines.cli_hub import run_ingest_job
from pipelines.hub.bootstrap import bootstrap, deliver, prepare_packages
from pipelines.paths import PROJECT_ROOT
from pipelines.synth import generate, sample_system, scaled

ORGS = ["RW1", "RW3", "SC101", "HS101"]
EXTRACTS = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]


def governance_of(orgs: list[str], target: Path) -> Path:
    """The project's registry with the agreements' parties cut down to `orgs` (and the hub),
    so that every organisation with an active agreement takes part."""
    shutil.copytree(PROJECT_ROOT / "governance", target)
    for path in (target / "agreements").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        data["parties"] = [
            p for p in data["parties"] if p["ods_code"] in orgs or p["role"] == "controller"
        ]
        if len(data["parties"]) > 1:
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        else:
            path.unlink()
    return target


def ingested_small_system(base: Path, *, own_governance: bool = False) -> dict:
    """Generate, submit and ingest; with own_governance the registry lists only these four
    organisations as parties (so every organisation with an agreement is present)."""
    cfg = sample_system(months=14, first_period="2025-09")
    cfg = scaled(
        replace(cfg, organisations=tuple(o for o in cfg.organisations if o.ods_code in ORGS)), 0.5
    )
    synth = generate(cfg, base / "synth")
    governance = governance_of(ORGS, base / "governance") if own_governance else None
    layout = bootstrap(base, ORGS, governance_src=governance)
    prepared = prepare_packages(layout, synth.extracts_dir, ORGS, cfg.periods, EXTRACTS, workers=2)
    refused = [p for p in prepared if p.status != "packaged"]
    assert not refused, refused[:3]
    deliver(prepared, layout.hub.inbox)
    ingest = run_ingest_job(layout.hub)
    assert ingest is not None and ingest.success
    return {"base": base, "cfg": cfg, "synth": synth, "layout": layout, "paths": layout.hub}
