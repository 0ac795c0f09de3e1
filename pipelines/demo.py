"""`make demo`: the whole system end to end on the embedded default.

Stages (each prints what it did and where its results are):
1. governance: check the organisation registry, agreements and policies;
2. synthetic system: generate every organisation's extracts for 24 months and validate all
   of them against the common data standard, with per-organisation row counts;
3. submission: every organisation prepares its packages with `owf submit` (NHS trusts from
   their ESR-style export) and drops them in the hub's inbox;
4. hub: the real Dagster ingest job verifies, checks agreements, decrypts, validates, re-keys
   and lands them; accepted and refused submissions per organisation, and one refusal;
5. models and gate: the Dagster publish job builds the dbt project (seeds, staging,
   intermediate, marts, published views; data tests as asset checks) and runs the
   mart quality gate; the system's headline figures for the latest period are printed;
6. publication: only if every blocking check passed, the disclosure-controlled publication
   is written and swapped in; where it is and a few of its figures are printed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from pipelines.errors import counted
from pipelines.paths import owf_home

EXTRACT_ORDER = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]


def _heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)), flush=True)


def _print_grouped(findings) -> None:
    """Print findings, folding repeats of one rule into a count."""
    by_rule: dict[tuple[str, str], list] = {}
    for f in findings:
        by_rule.setdefault((f.severity, f.rule), []).append(f)
    for items in by_rule.values():
        print("  " + items[0].render())
        if len(items) > 1:
            print(f"    ... and {len(items) - 1} more {items[0].rule} {items[0].severity}s")


def run_demo(home: Path | None = None) -> bool:
    from pipelines.governance import inspect_governance
    from pipelines.governance.check import check_governance
    from pipelines.standard import load_standard
    from pipelines.standard.batch import validate_folder
    from pipelines.synth import generate, sample_system

    started = time.monotonic()
    home = Path(home) if home else owf_home()
    home.mkdir(parents=True, exist_ok=True)
    std = load_standard()
    print(
        f"One Workforce demo - common workforce data standard v{std.version}; working folder {home}"
    )
    # The demo's own folders start afresh on every run (the Dagster instance keeps its history).
    import shutil

    for name in ("synth", "hub", "orgs", "system-pseudonymisation.key"):
        target = home / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    _heading("1. Governance")
    loaded = inspect_governance()
    findings = list(loaded.findings) + check_governance(loaded, standard=std)
    gov = loaded.governance
    # The sample registry holds no signing keys (none is ever committed): the demo makes each
    # organisation's key pair and registers its public half in step 3. Said once here, not as
    # a warning per organisation that their packages "will be refused" just before they land.
    keyless = [f for f in findings if f.rule == "no_current_signing_key"]
    findings = [f for f in findings if f.rule != "no_current_signing_key"]
    _print_grouped(findings)
    errors = [f for f in findings if f.severity == "error"]
    print(
        f"  {len(gov.organisations)} organisations, {len(gov.agreements)} agreements:"
        f" {len(errors)} errors, {len(findings) - len(errors)} warnings"
    )
    if keyless:
        print(
            f"  {len(keyless)} organisations have no signing key registered yet (the sample"
            " registry holds none): step 3 makes their key pairs and registers the public"
            " halves, as `owf keys register` does"
        )
    if errors:
        print("  governance data has errors: fix them first (owf governance check)")
        return False

    _heading("2. Synthetic system: every organisation's extracts, validated")
    config = sample_system()
    synth_dir = home / "synth"
    result = generate(config, synth_dir, progress=lambda m: print(f"  {m}", flush=True))
    t = time.monotonic()
    summary = validate_folder(result.extracts_dir)
    files = sum(s.files for s in summary.values())
    rows = sum(sum(s.rows.values()) for s in summary.values())
    failed = [f for s in summary.values() for f in s.failed]
    print(
        f"  validated {files:,} files ({rows:,} rows) against the standard in"
        f" {time.monotonic() - t:.1f}s: {len(failed)} failed"
    )
    short = {
        "staff_in_post": "staff in post",
        "leavers": "leavers",
        "vacancies": "vacancy rows",
        "sickness_absence": "sickness rows",
        "temporary_staffing": "temp. staffing",
    }
    print(
        f"  {'ODS':<7} {'kind':<22} {'agreement':<11}"
        + "".join(f"{short[e]:>15}" for e in EXTRACT_ORDER)
    )
    for org in config.organisations:
        s = summary.get(org.ods_code)
        agreements = ",".join(a.id for a in gov.agreements_for(org.ods_code))
        counts = "".join(f"{(s.rows.get(e, 0) if s else 0):>15,}" for e in EXTRACT_ORDER)
        print(f"  {org.ods_code:<7} {org.kind:<22} {agreements:<11}{counts}")
        for report in (s.reports if s else [])[:2]:
            print("    " + report.replace("\n", "\n    "))
    print(
        f"  extracts: {result.extracts_dir}  (ESR-style staff in post for NHS trusts beside them)"
    )
    print(f"  ground truth: {result.truth_dir}")
    if failed:
        return False

    _heading("3. Submission: each organisation runs owf submit")
    ok = _submit_and_ingest(home, config, result)
    if ok:
        _heading("5. Models and quality gate: the Dagster publish job")
        ok = _build_and_publish(home)

    print(
        f"\nDone in {time.monotonic() - started:.1f}s. Results under {home}."
        f" Data dictionary: {std.path / 'DATA_DICTIONARY.md'}"
    )
    return ok


OUT_OF_DATE_ORG = "HS101"
OUT_OF_DATE_EXTRACT = "sickness_absence"


def _out_of_date_governance(hub_governance: Path, target: Path) -> Path:
    """The hospice's own copy of the registry still lists sickness absence in its agreement,
    which the hub removed at the last review: its package reaches the hub and is refused there."""
    import shutil

    import yaml

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(hub_governance, target)
    path = target / "agreements" / "ISA-WV-004.yaml"
    data = yaml.safe_load(path.read_text())
    data["extracts"][OUT_OF_DATE_EXTRACT] = {
        "fields": [
            "org_code",
            "period",
            "person_id",
            "staff_group",
            "contract_type",
            "fte_days_available",
            "fte_days_lost",
            "sickness_reason",
        ]
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _submit_and_ingest(home: Path, config, synth) -> bool:
    import json

    from pipelines.cli_hub import run_ingest_job
    from pipelines.hub.bootstrap import bootstrap, deliver, prepare_packages
    from pipelines.hub.warehouse import connect

    t = time.monotonic()
    orgs = [o.ods_code for o in config.organisations]
    layout = bootstrap(home, orgs)
    print(f"  hub {layout.hub.root}: keys made, {len(orgs)} organisations' signing keys registered")
    prepared = prepare_packages(layout, synth.extracts_dir, orgs, config.periods, EXTRACT_ORDER)
    latest = config.periods[-1]
    stale = _out_of_date_governance(
        layout.hub.governance, layout.org_dir(OUT_OF_DATE_ORG) / "governance"
    )
    prepared += prepare_packages(
        layout,
        synth.extracts_dir,
        [OUT_OF_DATE_ORG],
        [latest],
        [OUT_OF_DATE_EXTRACT],
        governance_for={OUT_OF_DATE_ORG: stale},
        workers=1,
    )
    packaged = [p for p in prepared if p.status == "packaged"]
    refused_at_source = [p for p in prepared if p.status == "refused"]
    print(
        f"  {len(packaged):,} packages prepared in {time.monotonic() - t:.1f}s (outboxes under"
        f" {layout.root / 'orgs'}); {len(refused_at_source)} refused at source: no agreement covers them,"
        " nothing left the organisation"
    )
    if refused_at_source:
        e = refused_at_source[0]
        print(f"    e.g. {e.org} {e.extract} {e.period}: {e.reason}; receipt {e.receipt}")
    delivered = deliver(prepared, layout.hub.inbox)
    print(f"  {delivered:,} packages dropped in {layout.hub.inbox}")

    _heading("4. Hub: the Dagster ingest job")
    t = time.monotonic()
    result = run_ingest_job(layout.hub)
    if result is None or not result.success:
        print("  the ingest run failed")
        return False
    print(
        f"  Dagster run {result.run_id[:8]} (ingest_job, {config.periods[0]}..{latest}) succeeded"
        f" in {time.monotonic() - t:.1f}s"
    )
    with connect(layout.hub, write=False) as wh:
        rows = wh.execute(
            "SELECT org_code, status, count(*) FROM raw.submissions GROUP BY ALL"
        ).fetchall()
        landed = wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchall()[0][0]
    table: dict[str, dict[str, int]] = {}
    for org, status, n in rows:
        table.setdefault(org, {})[status] = n
    print(f"  {'ODS':<8}{'accepted':>10}{'quarantined':>13}{'refused':>9}")
    for org in orgs:
        c = table.get(org, {})
        print(
            f"  {org:<8}{c.get('accepted', 0):>10}{c.get('quarantined', 0):>13}{c.get('refused', 0):>9}"
        )
    print(
        f"  {landed:,} staff-in-post rows landed, stage-2 pseudonyms only, in {layout.hub.warehouse}"
    )
    for path in sorted((layout.hub.receipts / OUT_OF_DATE_ORG).glob("*.json")):
        r = json.loads(path.read_text())
        if r["status"] == "refused":
            print(
                f"  refused at the hub: {r['org_code']} {r['extract']} {r['period']} ({r['reason']})"
            )
            print(f"    {r['findings'][0]['message']}")
            print(f"    receipt {path}")
            break
    return True


def _build_and_publish(home: Path) -> bool:
    from pipelines.cli_publish import render_outcome, run_publish
    from pipelines.hub.home import HubPaths
    from pipelines.transform.headline import headline, render_headline

    paths = HubPaths.at(home / "hub")
    outcome = run_publish(paths)
    for line in render_outcome(outcome):
        print("  " + line)
    if not outcome.folder:
        return False
    print(render_headline(headline(paths)))
    print(f"  marts in {paths.warehouse} (schema marts); dbt docs: make docs")
    _heading("6. Publication for planners")
    manifest = json.loads((outcome.folder / "manifest.json").read_text())
    tables = manifest["tables"]
    suppressed = sum(t["suppressed_cells"] for t in tables.values())
    passed = sum(1 for c in manifest["checks"] if c["passed"])
    warned = sum(1 for c in manifest["checks"] if not c["passed"] and c["severity"] == "WARN")
    print(
        f"  {outcome.folder}  (also {outcome.folder.parent / 'latest'})\n"
        f"  {len(tables)} tables as DuckDB (published.duckdb), Parquet and CSV;"
        f" {len(manifest['submissions']):,} submissions used and the run's"
        f" {len(manifest['checks'])} checks ({passed} passed"
        + (f", {counted(warned, 'warning')}, listed above" if warned else "")
        + ") in manifest.json; data_dictionary.md; report.md (headline, table by organisation)"
    )
    print(
        f"  disclosure control below system level: {suppressed:,} cells suppressed"
        " (marked [c] in CSV), every other count rounded (the policy of each organisation's"
        " agreements: see data_dictionary.md)"
    )
    con = duckdb.connect(str(outcome.folder / "published.duckdb"), read_only=True)
    try:
        period = con.execute("SELECT max(period) FROM workforce_in_post").fetchall()[0][0]
        rows = con.execute(
            "SELECT org_code, headcount, fte, suppressed FROM workforce_in_post"
            " WHERE period = $p AND dimension = 'total' ORDER BY level DESC, org_code",
            {"p": period},
        ).fetchall()
    finally:
        con.close()
    print(f"  staff in post, {period} (published figures):")
    print(f"    {'ODS':<8}{'headcount':>10}{'FTE':>10}")
    for org, hc, fte, hidden in rows:

        def cell(v, name, hidden=hidden):
            return "[c]" if name in hidden.split(",") else f"{v:,.0f}"

        print(f"    {org:<8}{cell(hc, 'headcount'):>10}{cell(fte, 'fte'):>10}")
    print("  planners: owf publications show; owf publications list")
    return True
