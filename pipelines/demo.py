"""`make demo`: the whole system end to end on the embedded default.

Stages (each prints what it did and where its results are):
1. governance: check the organisation registry, agreements and policies;
2. synthetic system: generate every organisation's extracts for 24 months and validate all
   of them against the common data standard, with per-organisation row counts.
"""

from __future__ import annotations

import time
from pathlib import Path

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

    _heading("1. Governance")
    loaded = inspect_governance()
    findings = list(loaded.findings) + check_governance(loaded, standard=std)
    gov = loaded.governance
    _print_grouped(findings)
    errors = [f for f in findings if f.severity == "error"]
    print(
        f"  {len(gov.organisations)} organisations, {len(gov.agreements)} agreements:"
        f" {len(errors)} errors, {len(findings) - len(errors)} warnings"
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

    print(
        f"\nDone in {time.monotonic() - started:.1f}s. Results under {home}."
        f" Data dictionary: {std.path / 'DATA_DICTIONARY.md'}"
    )
    return not failed
