"""W1-W3: the monthly cycle at national scale.

Inputs (made once by `prepare`, not timed) under <workdir>/national/:
    synth/          the generator's national month: ~220 NHS trusts, ~1.5 million staff in post
    governance/     a registry for them: the hub operator and every trust, one agreement
    template/       hub/ with every organisation's packages (all five extracts) in its inbox,
                    and orgs/<ORG>/ (keys, outbox) - the state just before ingestion
    resubmission/   one trust's corrected staff in post for the same month, packaged

W1, the floor: DuckDB reads the same extract files into tables and computes the headline
in-post aggregate (headcount and FTE by organisation and staff group).
W2: a copy of the template hub goes through the real Dagster definitions: the ingest job
(verify, agreements, decrypt, validate, re-key, land), then the publish job (dbt build and
tests, the mart quality gate, the publication). Timed from the first job's start to the
publication being in place.
W3 (measured in the same process, right after W2): the resubmission is dropped in the inbox;
time until the new publication is in place (ingest job, then publish job). Its build runs as
on the day after W2's build, as a resubmission mostly arrives a day or more after the month
was published: the build step's build day is moved on by one (`_next_build_day`).

W6, the next month (no target): W2 measures a hub that holds nothing; a hub in service holds
the months before, and some of its monthly work grows with them. Its inputs, under
<workdir>/nextmonth/ (made once by `prepare_next_month`): the generator's national scale
over two months (NEXT_PERIODS), a template hub that has ingested and published the first,
and the second month's packages in next/. A copy of the template takes the second month
through both jobs, timed as W2 is.
W7 (measured in the same process, right after W6): W3 on a hub in service. The same trust
resubmits its staff in post for the second month (resubmission/, 1% of rows removed, as
W3's), built the next day; time until the new publication is in place. W3 resubmits into a
hub holding one month; some of a resubmission's work grows with the months a hub holds
(docs/benchmarks.md, "A resubmission on a hub holding three months").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

import yaml

PERIOD = "2026-09"
NEXT_PERIODS = ("2026-08", "2026-09")  # W6: the month the hub holds, and the one timed
EXTRACTS = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]
RESUBMITTING_ORG = "N0001"


def base_dir(workdir: Path) -> Path:
    return workdir / "national"


def _emptied_unless_ready(base: Path) -> bool:
    """False if `base` holds inputs already made (its ready.json); otherwise True, with
    `base` emptied of anything a run stopped half-way left."""
    if (base / "ready.json").exists():
        return False
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    return True


def prepare(workdir: Path, progress=print) -> None:
    from pipelines.hub.bootstrap import bootstrap, deliver, prepare_packages
    from pipelines.synth import generate, national_month

    base = base_dir(workdir)
    if not _emptied_unless_ready(base):
        return
    t = time.monotonic()
    cfg = national_month(period=PERIOD)
    synth = generate(cfg, base / "synth")
    orgs = [o.ods_code for o in cfg.organisations]
    progress(f"  national month generated: {len(orgs)} organisations ({time.monotonic() - t:.0f}s)")
    governance = national_governance(cfg, base / "governance")
    layout = bootstrap(base / "template", orgs, governance_src=governance)
    t = time.monotonic()
    prepared = prepare_packages(layout, synth.extracts_dir, orgs, [PERIOD], EXTRACTS, workers=2)
    refused = [p for p in prepared if p.status != "packaged"]
    if refused:
        raise SystemExit(f"national packages refused at source: {refused[:3]}")
    deliver(prepared, layout.hub.inbox)
    progress(f"  {len(prepared):,} packages prepared ({time.monotonic() - t:.0f}s)")
    _prepare_resubmission(layout, synth.extracts_dir, base / "resubmission")
    (base / "ready.json").write_text(
        json.dumps({"organisations": len(orgs), "packages": len(prepared)}) + "\n"
    )


def prepare_next_month(workdir: Path, progress=print) -> None:
    """W6's inputs: two national months, a hub that has ingested and published the first (not
    timed), and the second's packages. The generator's CSV files are removed once packaged."""
    import dataclasses
    import tempfile

    from pipelines.hub.bootstrap import bootstrap, deliver, prepare_packages
    from pipelines.hub.home import HubPaths
    from pipelines.synth import generate, national_month

    base = workdir / "nextmonth"
    _forget_unless_resubmission(base)
    if not _emptied_unless_ready(base):
        _built_by_this_code(base, progress)
        return
    t = time.monotonic()
    cfg = dataclasses.replace(national_month(period=NEXT_PERIODS[0]), months=len(NEXT_PERIODS))
    synth = generate(cfg, base / "synth")
    orgs = [o.ods_code for o in cfg.organisations]
    progress(f"  W6: two national months generated ({time.monotonic() - t:.0f}s)")
    governance = national_governance(cfg, base / "governance")
    layout = bootstrap(base / "template", orgs, governance_src=governance)
    (base / "next").mkdir()
    for period in NEXT_PERIODS:
        t = time.monotonic()
        prepared = prepare_packages(layout, synth.extracts_dir, orgs, [period], EXTRACTS, workers=2)
        refused = [p for p in prepared if p.status != "packaged"]
        if refused:
            raise SystemExit(f"W6 packages refused at source: {refused[:3]}")
        deliver(prepared, layout.hub.inbox if period == NEXT_PERIODS[0] else base / "next")
        progress(f"  W6: {len(prepared):,} packages for {period} ({time.monotonic() - t:.0f}s)")
    _prepare_resubmission(layout, synth.extracts_dir, base / "resubmission", NEXT_PERIODS[1])
    shutil.rmtree(base / "synth")
    paths = HubPaths.at(base / "template" / "hub", base / "template" / "hub" / "governance")
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as dagster_home, _hub_instance(dagster_home) as instance:
        _cycle(paths, instance, f"W6 preparation ({NEXT_PERIODS[0]})")
    progress(f"  W6: the template hub holds {NEXT_PERIODS[0]} ({time.monotonic() - t:.0f}s)")
    (base / "ready.json").write_text(
        json.dumps({"organisations": len(orgs), "periods": NEXT_PERIODS}) + "\n"
    )


def _forget_unless_resubmission(base: Path) -> None:
    """W6's inputs made before W7 existed have no resubmission, and the extracts it would be
    made from are gone: they are made again."""
    if not list((base / "resubmission").glob("*.owfpkg")):
        (base / "ready.json").unlink(missing_ok=True)


def _built_by_this_code(base: Path, progress=print) -> None:
    """The template hub built again, with this code, if its last build was by other code (not
    timed). The build's fingerprint covers the dbt project, so a template built before a
    change to the models would make every W6 run a full build of both months, not the next
    month's (found on 2026-12-05: W6 58.98 s against 49.57 s, its dbt step 34.8 s)."""
    import tempfile

    import duckdb

    from pipelines.cli_publish import run_publish
    from pipelines.hub.home import HubPaths
    from pipelines.transform.incremental import build_fingerprint, recorded_fingerprint

    paths = HubPaths.at(base / "template" / "hub", base / "template" / "hub" / "governance")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        if recorded_fingerprint(con) == build_fingerprint(con):
            return
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as dagster_home, _hub_instance(dagster_home) as instance:
        outcome = run_publish(paths, instance=instance)
    if outcome.folder is None:
        raise SystemExit(
            f"W6 preparation: the template hub's rebuild published nothing: {outcome.failed[:3]}"
            f" {outcome.step_failures[:3]}"
        )
    progress(
        f"  W6: the template hub built again with this code ({time.monotonic() - t:.0f}s; its"
        " last build was by other code, which would make W6 a full build)"
    )


def _run_hub(base: Path):
    """A fresh copy of `base`'s template hub under `base`/run, for one measured run. Links are
    kept: a hub that has published has one (publications/latest)."""
    from pipelines.hub.home import HubPaths

    run_root = base / "run"
    shutil.rmtree(run_root, ignore_errors=True)
    shutil.copytree(base / "template" / "hub", run_root / "hub", symlinks=True)
    return HubPaths.at(run_root / "hub", run_root / "hub" / "governance")


def run_w6(workdir: Path) -> dict:
    """W6: a copy of the hub holding the first month takes the next through both jobs; then
    W7 in the same process (it needs W6's warehouse and publication)."""
    import tempfile

    base = workdir / "nextmonth"
    paths = _run_hub(base)
    for package in sorted((base / "next").glob("*.owfpkg")):  # delivered before the clock
        shutil.copyfile(package, paths.inbox / package.name)
    with tempfile.TemporaryDirectory() as dagster_home, _hub_instance(dagster_home) as instance:
        seconds, stages, outcome = _cycle(paths, instance, "W6")
        w6 = {"seconds": seconds, "stages": stages}
        _resubmit(base, paths, instance, outcome, "W7", w6)
    shutil.rmtree(base / "run", ignore_errors=True)
    return w6


def _resubmit(base: Path, paths, instance, before, label: str, into: dict) -> None:
    """The trust's resubmission (base/resubmission) dropped in the inbox and taken to a new
    publication, built the next day; its times are added to `into`'s followups."""
    [package] = list((base / "resubmission").glob("*.owfpkg"))
    shutil.copyfile(package, paths.inbox / package.name)
    with _next_build_day():
        seconds, stages, again = _cycle(paths, instance, label)
    if again.folder == before.folder:
        raise SystemExit(f"{label}: the publication was not replaced")
    into.setdefault("followups", {})[label] = {"seconds": seconds, "stages": stages}


def national_governance(cfg, target: Path) -> Path:
    """The project's registry rewritten for the national month: the hub operator and every
    trust, all parties to one agreement (ISA-WV-001's terms)."""
    from pipelines.paths import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "governance", target)
    registry = yaml.safe_load((target / "organisations.yaml").read_text())
    hub = registry["system"]["hub_operator"]
    hub_org = next(o for o in registry["organisations"] if o["ods_code"] == hub)
    registry["system"]["name"] = "National benchmark system (synthetic)"
    registry["organisations"] = [hub_org] + [
        {
            "ods_code": o.ods_code,
            "name": o.name,
            "sector": o.sector,
            "kind": o.kind,
            "contact": {"team": "Workforce information", "email": "workforce@example.org"},
            "signing_keys": [],
        }
        for o in cfg.organisations
    ]
    (target / "organisations.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    agreements = target / "agreements"
    template = yaml.safe_load((agreements / "ISA-WV-001.yaml").read_text())
    for path in agreements.glob("*.yaml"):
        path.unlink()
    template["id"] = "ISA-NAT-001"
    template["title"] = "Benchmark: every trust of the national month"
    template["parties"] = [{"ods_code": hub, "role": "controller"}] + [
        {"ods_code": o.ods_code, "role": "joint_controller"} for o in cfg.organisations
    ]
    (agreements / "ISA-NAT-001.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    return target


def _prepare_resubmission(layout, extracts_dir: Path, out: Path, period: str = PERIOD) -> None:
    """The trust resubmits its staff in post for `period` with 1% of rows removed (a
    correction)."""
    from pipelines.hub.bootstrap import prepare_packages

    src = extracts_dir / RESUBMITTING_ORG / f"staff_in_post_{RESUBMITTING_ORG}_{period}.csv"
    corrected = out / "extracts" / RESUBMITTING_ORG
    corrected.mkdir(parents=True)
    lines = src.read_text().splitlines(keepends=True)
    keep = lines[: 1 + int((len(lines) - 1) * 0.99)]
    (corrected / src.name).write_text("".join(keep))
    [p] = prepare_packages(
        layout, out / "extracts", [RESUBMITTING_ORG], [period], ["staff_in_post"], workers=1
    )
    if p.status != "packaged":
        raise SystemExit(f"the resubmission was refused at source: {p.reason}")
    shutil.copyfile(p.package, out / p.package.name)


def run_w1(workdir: Path) -> dict:
    """The floor. The columns are declared from the standard (as every later stage knows
    them), so DuckDB does not sniff 1,100 files: with sniffing and union_by_name the load
    takes about six times as long."""
    import duckdb

    from pipelines.standard import load_standard

    std = load_standard()
    extracts = base_dir(workdir) / "synth" / "extracts"
    db = base_dir(workdir) / "w1.duckdb"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    rows = {}
    for extract in EXTRACTS:
        files = sorted(str(p) for p in extracts.glob(f"*/{extract}_*_{PERIOD}.csv"))
        columns = {f.name: "VARCHAR" for f in std.extracts[extract].fields}
        con.execute(
            f"CREATE TABLE {extract} AS SELECT * FROM read_csv($files, header = true,"  # noqa: S608 - fixed names
            " auto_detect = false, columns = $columns)",
            {"files": files, "columns": columns},
        )
        rows[extract] = con.execute(f"SELECT count(*) FROM {extract}").fetchall()[0][0]  # noqa: S608
    loaded = time.perf_counter()
    headline = con.execute(
        "SELECT org_code, staff_group, count(DISTINCT person_id) AS headcount,"
        " sum(CAST(fte AS DOUBLE)) AS fte FROM staff_in_post"
        " WHERE CAST(fte AS DOUBLE) > 0 GROUP BY ALL"
    ).fetchall()
    con.close()
    seconds = time.perf_counter() - started
    db.unlink(missing_ok=True)
    return {
        "seconds": seconds,
        "rows": rows["staff_in_post"],
        "rows_by_extract": rows,
        "stages": {"load": loaded - started, "aggregate": seconds - (loaded - started)},
        "groups": len(headline),
        "headcount": sum(r[2] for r in headline),
        "fte": round(sum(r[3] for r in headline), 1),
    }


def run_w2(workdir: Path) -> dict:
    """W2, then W3 in the same process (W3 needs W2's warehouse and publication)."""
    import tempfile

    base = base_dir(workdir)
    paths = _run_hub(base)
    with tempfile.TemporaryDirectory() as dagster_home, _hub_instance(dagster_home) as instance:
        seconds, stages, outcome = _cycle(paths, instance, "W2")
        w2 = {"seconds": seconds, "rows": _landed_rows(paths), "stages": stages}

        # W3: one trust's resubmission, to the new publication in place, built the next day.
        _resubmit(base, paths, instance, outcome, "W3", w2)
    shutil.rmtree(base / "run", ignore_errors=True)
    return w2


@contextlib.contextmanager
def _next_build_day():
    """The dbt build step's build day moved on by one day, as if its build ran tomorrow (the
    jobs run in this process). Until 2026-12-05 a build on a later day than the last was a
    full build, and the same-day W3 measured did not show it (docs/benchmarks.md, "A
    resubmission on a later day")."""
    import datetime as dt

    import pipelines.defs.transform as transform

    today = transform.build_day
    transform.build_day = lambda con: today(con) + dt.timedelta(days=1)
    try:
        yield
    finally:
        transform.build_day = today


@contextlib.contextmanager
def _hub_instance(home: str):
    """The Dagster instance the `owf` commands get (pipelines.defs.instance.local_instance:
    the project's dagster_instance.yaml) in the folder `home`: its storage and settings are
    the ones measured. DAGSTER_HOME is set while it is open, as the settings' storage names
    its folder by it."""
    from pipelines.defs.instance import local_instance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = home
    try:
        with local_instance() as instance:
            yield instance
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def _cycle(paths, instance, label: str):
    """The ingest job, then the publish job: (seconds, stages, publish outcome)."""
    from pipelines.cli_hub import run_ingest_job
    from pipelines.cli_publish import run_publish

    started = time.perf_counter()
    ingest = run_ingest_job(paths, instance=instance)
    ingested = time.perf_counter()
    if ingest is None or not ingest.success:
        raise SystemExit(f"{label}: the ingest run failed")
    outcome = run_publish(paths, instance=instance)
    seconds = time.perf_counter() - started
    if outcome.folder is None:
        raise SystemExit(
            f"{label}: no publication: {outcome.failed[:3]} {outcome.step_failures[:3]}"
        )
    stages = {"ingest_job": ingested - started, "publish_job": seconds - (ingested - started)}
    steps = _step_seconds_of(instance, outcome.run_id)
    return seconds, stages | {f"publish:{k}": v for k, v in steps.items()}, outcome


def _step_seconds_of(instance, run_id: str) -> dict[str, float]:
    """Wall time of each step of a Dagster run."""
    stats = instance.get_run_step_stats(run_id)
    return {
        s.step_key: round(s.end_time - s.start_time, 2)
        for s in stats
        if s.start_time and s.end_time
    }


def _landed_rows(paths) -> int:
    import duckdb

    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM raw.staff_in_post").fetchall()[0][0]
    finally:
        con.close()
