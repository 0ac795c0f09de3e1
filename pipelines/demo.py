"""`make demo`: the whole system end to end on the embedded default.

Stages (each prints what it did and where its results are):
1. governance: check the organisation registry, agreements and policies;
2. standard: validate the sample extract(s) against the common data standard;
3. a per-organisation summary.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipelines.paths import PROJECT_ROOT, owf_home

EXAMPLES = PROJECT_ROOT / "examples"


def _heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)))


def run_demo(home: Path | None = None) -> bool:
    from pipelines.governance import inspect_governance
    from pipelines.governance.check import check_governance
    from pipelines.standard import load_standard
    from pipelines.standard.validator import validate_file

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

    _heading("2. Sample extracts against the standard")
    rows_by_org: dict[str, int] = {}
    ok = True
    for path in sorted(EXAMPLES.glob("*.csv")):
        extract, org = _extract_and_org(path, std)
        if extract is None:
            continue
        report = validate_file(path, extract, standard=std, expected_org=org)
        print("  " + report.render(max_rows=3).replace("\n", "\n  "))
        ok = ok and report.ok
        if report.ok and org:
            rows_by_org[org] = rows_by_org.get(org, 0) + report.rows

    _heading("3. Organisations")
    print(f"  {gov.system_name}; hub operator {gov.hub_operator}")
    short = {name: "".join(w[0] for w in name.split("_")).upper() for name in std.extracts}
    print("  extracts: " + ", ".join(f"{v} {k}" for k, v in short.items()))
    print(
        f"  {'ODS':<7} {'kind':<22} {'agreement':<11} {'extracts shared':<16} {'sample rows':>11}"
    )
    for org in gov.organisations.values():
        if org.ods_code == gov.hub_operator:
            print(f"  {org.ods_code:<7} {org.kind:<22} (hub operator)")
            continue
        agreements = gov.agreements_for(org.ods_code)
        extracts = [short[e] for e in std.extracts if any(a.covers(e) for a in agreements)]
        print(
            f"  {org.ods_code:<7} {org.kind:<22} {','.join(a.id for a in agreements):<11}"
            f" {' '.join(extracts):<16} {rows_by_org.get(org.ods_code, 0):>11,}"
        )
    print(
        f"\nDone in {time.monotonic() - started:.1f}s. Data dictionary:"
        f" {std.path / 'DATA_DICTIONARY.md'}"
    )
    return ok


def _print_grouped(findings) -> None:
    """Print findings, folding repeats of one rule into a count."""
    by_rule: dict[tuple[str, str], list] = {}
    for f in findings:
        by_rule.setdefault((f.severity, f.rule), []).append(f)
    for items in by_rule.values():
        print("  " + items[0].render())
        if len(items) > 1:
            print(f"    ... and {len(items) - 1} more {items[0].rule} {items[0].severity}s")


def _extract_and_org(path: Path, std) -> tuple[str | None, str | None]:
    """examples/<extract>_<ORG>_<YYYY-MM>.csv"""
    stem = path.stem
    for name in std.extracts:
        if stem.startswith(name + "_"):
            rest = stem[len(name) + 1 :].split("_")
            return name, rest[0] if rest else None
    return None, None
