"""`owf hub`, `owf quarantine` and `owf audit`: the system data engineer's commands."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import OwfError

hub_app = typer.Typer(
    help="Run the hub: initialise, ingest, status, rotate the pseudonymisation key.",
    no_args_is_help=True,
)
quarantine_app = typer.Typer(
    help="Quarantined submissions: list, release, discard.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

HubOpt = Annotated[
    Path | None,
    typer.Option("--hub", help="Hub folder (default: $OWF_HUB, else $OWF_HOME/hub, else var/hub)."),
]


def _paths(hub: Path | None, *, exists: bool = True):
    from pipelines.hub.home import HubPaths

    return HubPaths.given(hub, exists=exists)


def _actor() -> str:
    try:
        return os.environ.get("OWF_ACTOR") or getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@hub_app.command("init")
def hub_init(
    hub: HubOpt = None,
    governance: Annotated[
        Path | None,
        typer.Option(
            help="Governance folder to copy as the hub's registry (default: the project's)."
        ),
    ] = None,
) -> None:
    """Create the hub's folders, its keys (0600) and its own copy of the governance registry."""
    from pipelines.hub.bootstrap import init_hub

    root = _paths(hub, exists=False).root
    paths = init_hub(root, governance)
    typer.echo(f"hub ready at {paths.root}: inbox {paths.inbox}, registry {paths.governance}")
    typer.echo(f"give organisations {paths.keys / 'hub-encryption.pub'}; keep {paths.keys} private")


def run_ingest_job(paths, periods: list[str] | None = None, *, instance=None, on_wait=None):
    """Run the real Dagster ingest job in this process over the inbox's periods; returns the
    Dagster result (None when there is nothing to do). A step that fails raises its error
    here: one the user can fix is printed as its message alone (pipelines.cli.main), since
    Dagster's console logger is kept quiet (pipelines.defs.instance.QUIET)."""

    from pipelines.definitions import defs
    from pipelines.defs.ingest import run_period
    from pipelines.defs.partitions import PERIODS
    from pipelines.hub.ingest import inbox_packages

    paths.ensure()
    keys = set(PERIODS.get_partition_keys())
    for period in periods or []:
        if period not in keys:
            raise OwfError(
                f"--period {period} is not a period the hub ingests: write it as YYYY-MM, from"
                f" {PERIODS.get_first_partition_key()} to {PERIODS.get_last_partition_key()}"
                " (the last complete month)"
            )
    # A package without a readable period (or with one that is no partition) belongs to the
    # latest period's run, which refuses it (as the sensor sends it).
    # Refusals the job would only reach inside a step (and print under Dagster's stack trace):
    # a lost warehouse, a damaged one, or one another program holds open. A lost warehouse
    # is said with the inbox empty too: found in review, "nothing to ingest" (exit 0) hid it
    # until the next package came.
    from pipelines.hub.warehouse import check_not_open_elsewhere, missing_warehouse, telling_waits

    lost = missing_warehouse(paths)
    if lost:
        raise OwfError(lost)
    found = sorted({run_period(f) for f in inbox_packages(paths)})
    wanted = sorted(set(periods)) if periods else found
    if not wanted:
        return None
    # Waits for the hub's other users first, saying for whom (the job would wait in silence:
    # its log is quiet on the terminal).
    check_not_open_elsewhere(paths, on_wait)
    from pipelines.defs.instance import claim_instance

    if instance is None:
        from pipelines.defs.instance import local_instance

        instance = local_instance()
    claim_instance(instance)
    job = defs.resolve_job_def("ingest_job")
    # A writer that takes the lock after the check above is waited for inside the job: said
    # here too, not only in the run's log.
    with telling_waits(on_wait):
        return _execute_ingest(job, instance, paths, wanted)


def _execute_ingest(job, instance, paths, wanted: list[str]):
    from pipelines.defs.instance import QUIET, owner_tags

    return job.execute_in_process(
        instance=instance,
        run_config={
            "resources": {
                "hub": {"config": {"root": str(paths.root), "governance": str(paths.governance)}}
            },
            "loggers": {"console": {"config": {"log_level": QUIET}}},
        },
        tags={
            **owner_tags(),
            "dagster/asset_partition_range_start": wanted[0],
            "dagster/asset_partition_range_end": wanted[-1],
        },
    )


@hub_app.command("ingest")
def hub_ingest(
    hub: HubOpt = None,
    period: Annotated[
        list[str] | None,
        typer.Option(
            help="Only these periods (YYYY-MM); default: every period waiting in the inbox."
        ),
    ] = None,
) -> None:
    """Ingest the inbox now, through the Dagster ingest job (one run for all periods waiting)."""
    paths = _paths(hub)
    result = run_ingest_job(paths, period, on_wait=_waiting)
    if result is None:
        typer.echo(f"nothing to ingest in {paths.inbox}")
        _say_what_is_not_a_package(paths)
        return
    typer.echo(_this_run(result))
    _print_status(paths)
    _say_what_is_not_a_package(paths)
    raise typer.Exit(0 if result.success else 1)


def _say_what_is_arriving(paths, arriving) -> None:
    """Name the packages still arriving (ingest.arriving_packages), which wait in the inbox."""
    from pipelines.hub.ingest import ARRIVING_SECONDS

    if arriving:
        shown = ", ".join(f"{p.name} ({age:.0f} s ago)" for p, age in arriving[:10]) + (
            f" and {len(arriving) - 10} more" if len(arriving) > 10 else ""
        )
        typer.echo(
            f"  still arriving: {len(arriving)} package(s) in {paths.inbox} are shorter than"
            f" their header says and were written in the last {ARRIVING_SECONDS // 60}"
            f" minutes: {shown}. They wait for the next run; one still short after"
            f" {ARRIVING_SECONDS // 60} minutes is refused as truncated (send it again)."
        )


def _this_run(result) -> str:
    """What the run just did, before the table of everything the hub holds."""
    from pipelines.defs.ingest import INGEST_ASSET, SUBMISSIONS_KEY

    meta: dict = {}
    for m in result.asset_materializations_for_node(INGEST_ASSET):
        if m.asset_key == SUBMISSIONS_KEY:
            meta = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
    packages = int(meta.get("packages", 0))
    parts = [
        f"{int(meta[s]):,} {label}"
        for s, label in (
            ("accepted", "accepted"),
            ("superseded", "landed superseded (the month's later submission is current)"),
            ("quarantined", "quarantined"),
            ("refused", "refused"),
            ("duplicate", "already ingested (nothing recorded twice)"),
        )
        if meta.get(s)
    ]
    gone = packages - sum(
        int(meta.get(s, 0))
        for s in ("accepted", "superseded", "quarantined", "refused", "duplicate")
    )
    # Found in review: packages of an earlier run cut short, filed by this run first (their
    # decisions are that run's), were said to be "taken by another run meanwhile".
    earlier = min(max(gone, 0), int(meta.get("filed_for_earlier_run", 0)))
    if earlier:
        parts.append(
            f"{earlier:,} filed for an earlier run that stopped before filing them (its"
            " decisions stand; their receipts are written)"
        )
    if gone - earlier > 0:
        parts.append(f"{gone - earlier:,} taken by another run meanwhile")
    return (
        f"this run: {packages:,} package(s): "
        + (", ".join(parts) or "none decided")
        + (
            "; `owf quarantine list` says why and what to do"
            if meta.get("quarantined") or meta.get("refused")
            else ""
        )
    )


def _say_what_is_not_a_package(paths) -> None:
    """Name what sits in the inbox but is not taken as a package (a CSV dropped there, a
    package renamed to upper case, a folder), so that it is not waited on in silence, and
    the packages still arriving. Dotfiles are packages still being written (or a desktop's
    own files): not named."""
    from pipelines.hub.ingest import SUFFIX, inbox_listing

    ready, arriving = inbox_listing(paths)
    _say_what_is_arriving(paths, arriving)
    taken = {p.name for p in ready} | {p.name for p, _ in arriving}
    others = sorted(
        p for p in paths.inbox.iterdir() if not p.name.startswith(".") and p.name not in taken
    )
    if not others:
        return
    # Named *.owfpkg and still not taken: say why (found in review: a folder, a broken link
    # and a named pipe were told "only files named *.owfpkg are taken").
    named = [p for p in others if p.name.endswith(SUFFIX)]
    others = [p for p in others if not p.name.endswith(SUFFIX)]
    if named:
        shown = ", ".join(f"{p.name}{_not_a_file(p)}" for p in named[:10]) + (
            f" and {len(named) - 10} more" if len(named) > 10 else ""
        )
        typer.echo(
            f"  not ingested: {len(named)} item(s) in {paths.inbox} named *{SUFFIX} are not"
            f" files a package can be read from: {shown}. Put the package file itself there."
        )
    if others:
        shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in others[:10]) + (
            f" and {len(others) - 10} more" if len(others) > 10 else ""
        )
        typer.echo(
            f"  not ingested: {len(others)} item(s) in {paths.inbox} are not packages: {shown}."
            f" Only files named *{SUFFIX} (lower case) are taken; move anything else out."
        )


def _not_a_file(path) -> str:
    if path.is_symlink() and not path.exists():
        return " (a link to a file that is not there)"
    if path.is_dir():
        return "/ (a folder)"
    return " (not a regular file: a pipe, a socket or a device)"


def _waiting(holder: str) -> None:
    """A read command finds the hub writing: say what it waits for, rather than sit silent."""
    typer.echo(f"waiting for the hub's {holder} to finish ...", err=True)


def _print_status(paths) -> None:
    from pipelines.hub.warehouse import connect

    with connect(paths, write=False, on_wait=_waiting) as wh:
        rows = wh.execute(
            "SELECT org_code, status, count(*) FROM raw.submissions GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    table: dict[str, dict[str, int]] = {}
    for org, status, n in rows:
        table.setdefault(org or "_unknown", {})[status] = n
    statuses = ["accepted", "superseded", "quarantined", "refused", "discarded", "purged"]
    typer.echo(f"  {'ODS':<8}" + "".join(f"{s:>13}" for s in statuses))
    for org, counts in table.items():
        typer.echo(f"  {org:<8}" + "".join(f"{counts.get(s, 0):>13}" for s in statuses))
    typer.echo(f"  receipts in {paths.receipts}; warehouse {paths.warehouse}")


@hub_app.command("status")
def hub_status(hub: HubOpt = None) -> None:
    """Submissions by organisation and status."""
    from pipelines.hub.warehouse import missing_warehouse

    paths = _paths(hub)
    if not paths.warehouse.exists():
        lost = missing_warehouse(paths)
        if lost:
            raise OwfError(lost)
        # A hub just set up is not an error (found in review: this exited 2).
        waiting = len(list(paths.inbox.glob("*.owfpkg"))) if paths.inbox.exists() else 0
        typer.echo(
            f"hub at {paths.root}: nothing ingested yet ({waiting} package(s) in the inbox;"
            " `owf hub ingest` takes them)"
        )
        return
    _print_status(paths)


@hub_app.command("rotate-key")
def hub_rotate_key(
    hub: HubOpt = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild/--no-rebuild",
            help="Run the publish job afterwards, so no model keeps the old epoch's pseudonyms.",
        ),
    ] = True,
) -> None:
    """Rotate the hub pseudonymisation key: every stored pseudonym is re-keyed one step along
    the key chain (people stay linked across months); logged. Also finishes an interrupted
    rotation. Back up keys/ afterwards: every key of the chain is needed to ingest."""
    from pipelines.hub.rotation import rotate_hub_key

    paths = _paths(hub)
    r = rotate_hub_key(paths, actor=_actor())
    how = "finished an interrupted rotation" if r.resumed else "rotated"
    typer.echo(
        f"{how}: hub pseudonymisation key epoch {r.from_epoch} -> {r.to_epoch};"
        f" {r.rows:,} stored rows re-keyed; old key kept as"
        f" keys/hub-pseudonymisation.epoch-{r.from_epoch}.key (ingestion needs the whole chain:"
        " back up the keys folder)"
    )
    if not rebuild:
        typer.echo(
            "models not rebuilt: they hold the old epoch's pseudonyms until the next `owf publish`"
        )
        return
    from pipelines.cli_publish import render_outcome, run_publish

    typer.echo("rebuilding the models and publishing (publish_job) ...")
    outcome = run_publish(paths, on_wait=_waiting)
    for line in render_outcome(outcome):
        typer.echo(line)
    # The rotation stands either way; a rebuild that failed or was blocked exits 1, as
    # `owf publish` does (found in review: it exited 0, so a script saw success).
    if not (outcome.success and outcome.folder):
        typer.echo(
            "the key was rotated, but the models were not rebuilt and published: run"
            " `owf publish` once the failure above is mended",
            err=True,
        )
        raise typer.Exit(1)


@quarantine_app.command("list")
def quarantine_list(hub: HubOpt = None) -> None:
    """Quarantined and refused submissions, with why and what can be done."""
    from pipelines.hub.quarantine import list_quarantined

    items = list_quarantined(_paths(hub), on_wait=_waiting)
    if not items:
        typer.echo("no quarantined or refused submissions")
        return
    for q in items:
        if not os.path.exists(q.package):
            # Neither release nor a plain discard can work without the file: say so here.
            kind = (
                f"package file missing from {q.package.parent}/: put it back to release or"
                " discard it, or discard with --file-gone if it is lost"
            )
        elif q.releasable:
            kind = "releasable (plausibility only)"
        elif q.status == "refused":
            kind = "refused: fix the cause, then a new submission"
        else:
            kind = "needs a corrected resubmission"
        # A refused package's manifest may not be readable: what it could not say is "-".
        what = " ".join(str(v) if v else "-" for v in (q.org_code, q.extract, q.period))
        typer.echo(f"{q.submission_id}  {q.status:<11} {what}  {q.reason}  [{kind}]")
        for f in q.receipt.get("findings", [])[:3]:
            where = ", ".join(
                part
                for part in (
                    f"row {f['row']}" if f.get("row") is not None else "",
                    f"field {f['field']}" if f.get("field") else "",
                )
                if part
            )
            text = f"{f.get('rule')}: {f.get('message', '')}".rstrip(": ")
            typer.echo(f"    {where + ': ' if where else ''}{text}")


@quarantine_app.command("release")
def quarantine_release(
    submission_id: Annotated[
        str, typer.Argument(help="Submission id (or its first 8+ characters).")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is released (recorded in the audit log).")
    ],
    hub: HubOpt = None,
) -> None:
    """Land a submission whose only failures were plausibility checks, after checking with the organisation."""
    from pipelines.hub.quarantine import release

    status = release(_paths(hub), submission_id, reason, _actor())
    typer.echo(f"released {submission_id}: {status}")


@quarantine_app.command("discard")
def quarantine_discard(
    submission_id: Annotated[
        str, typer.Argument(help="Submission id (or its first 8+ characters).")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is discarded (recorded in the audit log).")
    ],
    hub: HubOpt = None,
    file_gone: Annotated[
        bool,
        typer.Option(
            "--file-gone",
            help="The package file is known to be lost: record the discard without deleting it"
            " (otherwise a missing file is an error and nothing changes).",
        ),
    ] = False,
) -> None:
    """Give up on a quarantined or refused submission: its package is deleted, its record and audit trail stay."""
    from pipelines.hub.quarantine import discard

    discard(_paths(hub), submission_id, reason, _actor(), file_gone=file_gone)
    typer.echo(f"discarded {submission_id}")


@audit_app.command("verify")
def audit_verify(hub: HubOpt = None) -> None:
    """Check the audit log's hash chain; name the first row that was edited, deleted or reordered."""
    from pipelines.hub import audit
    from pipelines.hub.warehouse import connect, missing_warehouse

    paths = _paths(hub)
    if not paths.warehouse.exists():
        lost = missing_warehouse(paths)
        if lost:
            raise OwfError(lost)
        typer.echo(f"audit log empty: nothing has been ingested at {paths.root} yet")
        return
    with connect(paths, write=False, on_wait=_waiting) as wh:
        rows, problems = audit.verify(wh, audit.read_head(paths), head_expected=True)
    if problems:
        for p in problems:
            typer.echo(f"FAILED: {p.message} ({p.kind})")
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {rows} rows, hash chain verified")
