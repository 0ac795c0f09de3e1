"""`owf publish` and `owf publications`: the quality gate, the publication and its history."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from pipelines.defs.instance import render_step_failure
from pipelines.errors import OwfError, counted

publications_app = typer.Typer(
    help="Publications for planners: list, show, diff.", no_args_is_help=True
)
HubOpt = Annotated[
    Path | None,
    typer.Option("--hub", help="Hub folder (default: $OWF_HUB, else $OWF_HOME/hub, else var/hub)."),
]
# Runs started here record a blocked publication themselves; the failure sensor skips them.
RECORDED_TAG = "owf/blocked-recorded-by"


def _paths(hub: Path | None, *, publications_only: bool = False):
    """The hub --hub names. As for every hub command but `owf hub init`, a mistyped --hub is
    an error, not a hub with nothing ingested or published yet; the `publications` commands
    also read a folder holding only a hub's publications/ (a copy for reading)."""
    from pipelines.hub.home import HubPaths

    paths = HubPaths.given(hub)
    if publications_only and (paths.root / "publications").is_dir():
        return paths
    return HubPaths.given(hub, exists=True)


@dataclass
class PublishOutcome:
    run_id: str
    success: bool
    seconds: float
    checks_total: int = 0
    failed: list[dict] = field(default_factory=list)  # blocking checks that failed
    warnings: list[dict] = field(default_factory=list)  # warn-severity checks that failed
    step_failures: list[dict] = field(default_factory=list)  # steps that failed for another reason
    folder: Path | None = None


def _check_dict(evaluation) -> dict:
    meta = evaluation.metadata or {}
    orgs = meta.get("failing_organisations")
    return {
        "asset": evaluation.asset_key.to_user_string(),
        "check": evaluation.check_name,
        "description": evaluation.description or "",
        "organisations": list(orgs.value) if orgs is not None else [],
    }


def run_publish(paths, *, instance=None, on_wait=None) -> PublishOutcome:
    """The monthly cycle through the real Dagster publish_job: registry, dbt build and tests,
    the mart quality gate and - only if every blocking check passed - the publication. A
    blocked run is recorded in the audit log with the checks that held it back."""
    from pipelines.transform.dbt_server import start as keep_dbt_loaded

    # First, so that dbt's imports in the server run beside this process's own (Dagster's).
    keep_dbt_loaded()
    from pipelines.defs.instance import run_hub_job, step_failures
    from pipelines.hub.warehouse import (
        check_not_open_elsewhere,
        missing_warehouse,
        telling_waits,
    )
    from pipelines.publish.publication import check_publications_writable, record_blocked

    if not paths.warehouse.exists():
        raise OwfError(
            missing_warehouse(paths)
            or f"no warehouse at {paths.warehouse}: ingest some submissions first (owf hub ingest)"
        )
    # dbt would fail on a warehouse another program holds open with a message buried in its
    # log, and the blocked run could not even be recorded: say so before starting.
    check_not_open_elsewhere(paths, on_wait)  # and waits for the hub's users, saying so
    # Before the build, not after its minutes: where the publication would go.
    check_publications_writable(paths)
    started = time.monotonic()
    with telling_waits(on_wait):  # a writer that came after the check: waited for in the job
        result = run_hub_job(
            "publish_job",
            paths,
            instance=instance,
            tags={RECORDED_TAG: "cli"},
        )
    outcome = PublishOutcome(result.run_id, result.success, 0.0)
    evaluations = result.get_asset_check_evaluations()
    outcome.checks_total = len(evaluations)
    for e in evaluations:
        if e.passed:
            continue
        severity = getattr(e.severity, "value", "ERROR")
        (outcome.warnings if severity == "WARN" else outcome.failed).append(_check_dict(e))
    outcome.step_failures = step_failures(result)
    for m in result.get_asset_materialization_events():
        mat = m.step_materialization_data.materialization
        if mat.asset_key.path == ["publications", "latest"] and "path" in mat.metadata:
            outcome.folder = Path(mat.metadata["path"].value)
    if not result.success:
        record_blocked(
            paths,
            outcome.failed
            or [
                {"check": "run", "description": s["step"] + ": " + s["error"]}
                for s in outcome.step_failures
            ],
            actor=f"owf publish:{result.run_id[:8]}",
        )
    outcome.seconds = time.monotonic() - started
    return outcome


def render_outcome(outcome: PublishOutcome) -> list[str]:
    passed = outcome.checks_total - len(outcome.failed) - len(outcome.warnings)
    lines = [
        f"Dagster run {outcome.run_id[:8]} (publish_job) {'succeeded' if outcome.success else 'FAILED'}"
        f" in {outcome.seconds:.1f}s: {passed}/{outcome.checks_total} checks passed"
        + (f", {counted(len(outcome.warnings), 'warning')}" if outcome.warnings else "")
    ]
    for c in outcome.failed[:20]:
        who = f" [organisations: {', '.join(c['organisations'])}]" if c["organisations"] else ""
        lines.append(f"  BLOCKING check failed: {c['asset']} {c['check']}{who}")
        if c["description"]:
            lines.append(f"    {c['description'].splitlines()[0][:300]}")
    for c in outcome.warnings[:10]:
        lines.append(f"  warning (not blocking): {c['asset']} {c['check']}")
    if not outcome.failed:
        for s in outcome.step_failures[:5]:
            lines.extend(render_step_failure(s))
    if outcome.folder is None:
        lines.append(
            "  no new publication: the current one (publications/latest) is unchanged."
            " Fix the data or the check, then run `owf publish` again."
        )
    return lines


def publish_command(hub: HubOpt = None) -> None:
    """Build the models, run every check and, if all blocking checks pass, publish."""
    from pipelines.cli_hub import _waiting

    paths = _paths(hub)
    outcome = run_publish(paths, on_wait=_waiting)
    for line in render_outcome(outcome):
        typer.echo(line)
    if outcome.folder:
        typer.echo(f"publication {outcome.folder.name}: {outcome.folder}")
        typer.echo(f"  latest: {outcome.folder.parent / 'latest'}")
        _echo_headline(outcome.folder)
    raise typer.Exit(0 if outcome.success and outcome.folder else 1)


def _echo_headline(folder: Path) -> None:
    report = (folder / "report.md").read_text().splitlines()
    for line in report:
        if line.startswith("Latest census"):
            typer.echo("  " + line)
    start = report.index("## System headline") if "## System headline" in report else None
    if start is None:
        return
    for line in report[start + 2 :]:
        if not line.strip():
            break
        typer.echo("  " + line)


@publications_app.command("list")
def publications_list(hub: HubOpt = None) -> None:
    """Every publication, oldest first; * marks latest."""
    from pipelines.publish.publication import list_publications, publications_dir

    paths = _paths(hub, publications_only=True)
    pubs = list_publications(paths)
    if not pubs:
        typer.echo(f"no publications in {publications_dir(paths)} yet: run `owf publish`")
        return
    typer.echo(
        f"  {'version':<22}{'created':<27}{'submissions':>12}{'tables':>8}{'checks passed':>15}"
    )
    for p in pubs:
        mark = "*" if p["latest"] else " "
        if "damaged" in p:
            typer.echo(
                f"{mark} {p['version']:<22}DAMAGED: {p['damaged']} ({p['path']}): restore it"
                " from a backup, or remove the folder if it is not wanted"
            )
            continue
        checks = f"{p['checks_passed']}/{p['checks']}"
        typer.echo(
            f"{mark} {p['version']:<22}{p['created_at']:<27}{p['submissions']:>12}"
            f"{p['tables']:>8}{checks:>15}"
        )
    typer.echo(f"in {publications_dir(paths)}")


@publications_app.command("show")
def publications_show(
    version: Annotated[str, typer.Argument(help="Version (default: latest).")] = "latest",
    hub: HubOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """What a publication holds and where it came from."""
    from pipelines.publish.publication import load_manifest, publications_dir

    paths = _paths(hub, publications_only=True)
    m = load_manifest(paths, version)
    if as_json:
        typer.echo(json.dumps(m, indent=2))
        return
    by_org: dict[str, int] = {}
    for s in m["submissions"]:
        by_org[s["org_code"]] = by_org.get(s["org_code"], 0) + 1
    passed = sum(1 for c in m["checks"] if c.get("passed"))
    warned = sum(
        1 for c in m["checks"] if not c.get("passed") and str(c.get("severity")).upper() == "WARN"
    )
    code = m["code_version"]
    typer.echo(f"publication {m['version']} (created {m['created_at']}) for {m['audience']}")
    typer.echo(f"  folder: {publications_dir(paths) / m['version']}")
    typer.echo(
        f"  standard v{m['standard_version']}; code {code.get('package')}"
        f" {code.get('git_commit', 'no git commit')[:12]}{' (uncommitted changes)' if code.get('git_dirty') else ''}"
    )
    typer.echo(
        f"  checks passed: {passed}/{len(m['checks'])}"
        + (f" ({counted(warned, 'warning')}: failed, not blocking)" if warned else "")
    )
    for c in m["checks"]:
        if not c.get("passed"):
            typer.echo(
                f"    {str(c.get('severity', '')).lower()}: {c.get('asset')} {c.get('check')}"
            )
    typer.echo(
        f"  {len(m['submissions'])} submissions: "
        + ", ".join(f"{org} {n}" for org, n in sorted(by_org.items()))
    )
    typer.echo(f"  {'table':<22}{'rows':>8}{'suppressed cells':>18}  output")
    for name, t in m["tables"].items():
        typer.echo(f"  {name:<22}{t['rows']:>8}{t['suppressed_cells']:>18}  {t['output']}")


@publications_app.command("diff")
def publications_diff(
    old: Annotated[str, typer.Argument(help="The earlier version.")],
    new: Annotated[str, typer.Argument(help="The later version (default: latest).")] = "latest",
    hub: HubOpt = None,
) -> None:
    """What changed between two publications: submissions, tables, versions."""
    from pipelines.publish.publication import diff_publications

    d = diff_publications(_paths(hub, publications_only=True), old, new)
    typer.echo(f"{d['from']} -> {d['to']}")
    if d["same"]:
        typer.echo("  the same publication twice: nothing to compare (`owf publications list`)")
        return
    if d["reversed"]:
        typer.echo(
            f"  note: {d['from']} was published after {d['to']}, so 'added' below means"
            " in the earlier one only; give the earlier version first to see what changed"
            " since it"
        )
    for label, key in (("added", "submissions_added"), ("removed", "submissions_removed")):
        typer.echo(f"  submissions {label}: {len(d[key])}")
        for s in d[key][:30]:
            typer.echo(f"    {s}")
    changed = {t: v for t, v in d["tables"].items() if v["changed"]}
    typer.echo(f"  tables changed: {len(changed)} of {len(d['tables'])}")
    for t, v in changed.items():
        before, after = v["rows"]
        if before is None:
            typer.echo(f"    {t}: added ({after} rows)")
        elif after is None:
            typer.echo(f"    {t}: removed (had {before} rows)")
        else:
            typer.echo(f"    {t}: rows {before} -> {after}")
    if d["standard_version"][0] != d["standard_version"][1]:
        typer.echo(f"  standard: v{d['standard_version'][0]} -> v{d['standard_version'][1]}")
    if d["code_version"][0] != d["code_version"][1]:
        typer.echo(f"  code: {d['code_version'][0]} -> {d['code_version'][1]}")
