"""Benchmark workloads: inputs are prepared once, each measured run is a fresh process."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

DESCRIPTIONS = {
    "W1": "floor: DuckDB loads the national month's extract files and computes headcount and FTE by organisation and staff group",
    "W2": "national month (~220 trusts, all extracts): Dagster ingest job, then publish job (dbt build, checks, publication)",
    "W3": "one trust resubmits one month after W2, built the next day: until the new publication is in place",
    "W4": "owf submit prepare, 100,000-row ESR-style staff-in-post extract, end to end",
    "W5": "owf submit prepare, the same extract saved as an XLSX workbook, end to end (no target)",
    "W6": "the next month: a hub holding one national month ingests and publishes the next, as W2 (no target)",
    "W7": "W3 on a hub in service: the trust resubmits the latest month after W6 (the hub holds two months), built the next day (W3's target)",
}
# Repetitions per workload (W3 is measured inside each W2 run, W7 inside each W6 run).
RUNS = {"W1": 5, "W2": 3, "W4": 5, "W5": 3, "W6": 3}

W4_PERIOD = "2026-10"
W4_HEADCOUNT = 96_000  # with second assignments, about 100,000 rows


def prepare_inputs(workdir: Path, names: list[str]) -> None:
    if {"W1", "W2", "W3"} & set(names):
        from pipelines.bench import national

        national.prepare(workdir, progress=lambda m: print(m, flush=True))
    if {"W4", "W5"} & set(names):
        _prepare_w4(workdir / "w4")
    if "W5" in names:
        _prepare_w5(workdir / "w4")
    if {"W6", "W7"} & set(names):
        from pipelines.bench import national

        national.prepare_next_month(workdir, progress=lambda m: print(m, flush=True))


def _prepare_w4(base: Path) -> None:
    from pipelines.crypto import keys as kf
    from pipelines.crypto.encryption import generate_encryption_key
    from pipelines.crypto.signing import generate_signing_key, public_key_b64
    from pipelines.paths import PROJECT_ROOT
    from pipelines.submission.prepare import register_signing_key
    from pipelines.synth import OrgSpec, SynthConfig, generate

    marker = base / "ready.json"
    if marker.exists():
        return
    shutil.rmtree(base, ignore_errors=True)
    cfg = SynthConfig(
        (OrgSpec("RW1", "Large acute trust", "NHS_TRUST", "acute_trust", W4_HEADCOUNT),),
        first_period=W4_PERIOD,
        months=1,
    )
    generate(cfg, base / "synth")
    shutil.copytree(PROJECT_ROOT / "governance", base / "governance")
    keys = base / "keys"
    signing = generate_signing_key()
    hub = generate_encryption_key()
    kf.write_private_key(keys / "RW1-signing.key", signing)
    kf.write_public_key(keys / "hub-encryption.pub", hub.public_key(), "hub")
    kf.write_symmetric_key(
        keys / "system-pseudonymisation.key", kf.generate_symmetric_key(kf.SYSTEM_KEY, 1)
    )
    register_signing_key(
        base / "governance",
        "RW1",
        public_key_b64(signing.public_key()),
        "RW1-bench",
        dt.date.today() - dt.timedelta(days=1),
        dt.date.today() + dt.timedelta(days=365),
    )
    marker.write_text(json.dumps({"input": str(w4_input(base))}))


def _prepare_w5(base: Path) -> None:
    """W4's CSV saved as a workbook of one sheet, every cell text (as an export's are), once."""
    import csv

    from openpyxl import Workbook

    target = w5_input(base)
    if target.exists():
        return
    book = Workbook(write_only=True)
    sheet = book.create_sheet("ESR staff in post")
    with w4_input(base).open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            sheet.append(row)
    part = target.with_name(target.name + ".part")
    book.save(part)
    part.rename(target)


def w5_input(base: Path) -> Path:
    return base / "esr_staff_in_post_RW1.xlsx"


def w4_input(base: Path) -> Path:
    return base / "synth" / "extracts" / "RW1" / f"esr_staff_in_post_RW1_{W4_PERIOD}.csv"


def run_w4(workdir: Path, xlsx: bool = False) -> dict:
    """Time the whole of `owf submit prepare` as the library call the command makes."""
    import time

    from pipelines.submission.prepare import key_paths, run_submission

    base = workdir / "w4"
    out = base / "outbox"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    outcome = run_submission(
        w5_input(base) if xlsx else w4_input(base),
        org="RW1",
        extract="staff_in_post",
        period=W4_PERIOD,
        profile="esr_staff_in_post",
        governance=base / "governance",
        package=True,
        out_dir=out,
        key_paths_=key_paths(base / "keys", "RW1", None, None, None),
    )
    seconds = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"W4/W5 input did not package: {outcome.findings[:3]}")
    return {
        "seconds": seconds,
        "rows": outcome.receipt["rows_read"],
        "stages": outcome.receipt["stage_seconds"],
    }


def _national(name: str):
    def run(workdir: Path) -> dict:
        from pipelines.bench import national

        return getattr(national, f"run_{name.lower()}")(workdir)

    return run


RUNNERS = {
    "W1": _national("W1"),
    "W2": _national("W2"),
    "W4": run_w4,
    "W5": lambda workdir: run_w4(workdir, xlsx=True),
    "W6": _national("W6"),
}
