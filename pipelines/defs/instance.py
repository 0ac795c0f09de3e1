"""The Dagster instance the command line and the demo run jobs on.

With $DAGSTER_HOME set (the Makefile sets it to .dagster_home), runs are recorded there, so
`make dev` shows what `make demo` did; the folder and its dagster.yaml are created on first
use. Without it, an ephemeral instance (nothing kept).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from pipelines.paths import PROJECT_ROOT

# The project's Dagster instance settings, copied into $DAGSTER_HOME as dagster.yaml.
SETTINGS = "dagster_instance.yaml"


def local_instance():
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.ephemeral()
    message = install_settings(Path(home))
    if message:
        print(message, file=sys.stderr)
    return dg.DagsterInstance.get()


def install_settings(folder: Path) -> str | None:
    """Put the project's dagster_instance.yaml in the Dagster home `folder` as dagster.yaml.
    Returns a message when an existing copy was replaced (None when there was none, or it was
    the same).

    The project's file is the source of truth: an older copy (before `granularity: run`,
    say) would let an ingest run land between a publish run's build and its publication.
    A copy that differs is kept beside it as dagster.yaml.previous, and the message says so.

    Every file is written whole under another name and then renamed into place, so a process
    starting at the same time (`make dev`'s webserver and daemon, a command) reads the old
    file or the new one, never part of one. Copied in place, a new home's dagster.yaml was
    read half-written by another process starting with it: of 100 rounds of eight processes
    at once, 17 had one say the settings differed and keep a truncated dagster.yaml.previous."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "dagster.yaml"
    wanted = (PROJECT_ROOT / SETTINGS).read_bytes()
    if not settings.exists():
        _write_whole(settings, wanted)
        return None
    current = settings.read_bytes()
    if current == wanted:
        return None
    previous = folder / "dagster.yaml.previous"
    _write_whole(previous, current)
    _write_whole(settings, wanted)
    return (
        f"Dagster settings: {settings} differed from the project's {SETTINGS} and was"
        f" replaced by it; the old one is {previous}. Make lasting changes in {SETTINGS}"
        " at the project root."
    )


def _write_whole(path: Path, data: bytes) -> None:
    """Writes `data` to a new file of its own beside `path` and renames it to `path`."""
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(staged, 0o644)  # as a copy made by the user's umask would usually be
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


if __name__ == "__main__":  # `make dev`: $DAGSTER_HOME's settings before `dagster dev`
    message = install_settings(Path(os.environ["DAGSTER_HOME"]))
    if message:
        print(message)


# Dagster's console logger prints a failed step with its whole stack trace (for an error the
# user can fix, such as a registry that is not valid YAML, forty lines above the one that
# says what to do). Runs from the command line therefore log to the terminal only at this
# level, and the caller reports failed steps itself (step_failures): the message of an error
# the user can fix, the stack of any other. Every event is still in the run's logs (`make dev`).
QUIET = "CRITICAL"


# Who runs a job started from the command line: its process (id and start time, so that a
# process id used again by another program is not taken for it) on this machine. A run
# whose process is gone while Dagster still has it STARTED was cut short (kill -9, a power
# cut): nothing else ever ends it, and, counted against the warehouse pool's one slot, it
# kept every later run of the daemon queued (found in review).
OWNER_PID_TAG = "owf/pid"
OWNER_HOST_TAG = "owf/host"
OWNER_START_TAG = "owf/process_start"


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, Linux /proc), or None if there is
    no such process (or no /proc to tell)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> dict[str, str]:
    import socket

    return {
        OWNER_PID_TAG: str(os.getpid()),
        OWNER_HOST_TAG: socket.gethostname(),
        OWNER_START_TAG: _process_start(os.getpid()) or "",
    }


def fail_abandoned_runs(instance) -> list[str]:
    """Mark failed every run this machine's command line started whose process has ended
    without finishing it; returns their run ids. Runs of other machines, of the daemon or of
    `make dev`, and runs whose process is alive are left alone."""
    import socket

    import dagster as dg

    if not Path("/proc/self/stat").exists():
        return []  # no way to tell a live process from a dead one here
    host = socket.gethostname()
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={OWNER_HOST_TAG: host},
        )
    )
    failed = []
    for run in runs:
        pid, started = run.tags.get(OWNER_PID_TAG), run.tags.get(OWNER_START_TAG)
        if not pid or not pid.isdigit() or _process_start(int(pid)) == started:
            continue
        instance.report_run_failed(
            run,
            message=(
                f"the owf process that ran it (pid {pid} on {host}) ended without finishing it"
                " (killed, or the machine stopped); marked failed by the next owf command so"
                " that it no longer holds the warehouse pool. What it had committed stands;"
                " the next ingest or publish completes the rest."
            ),
        )
        failed.append(run.run_id)
    return failed


def claim_instance(instance) -> None:
    """Before a command-line run: end the runs an earlier, killed command left STARTED, and
    say so."""
    ended = fail_abandoned_runs(instance)
    if ended:
        print(
            f"Dagster: marked {len(ended)} run(s) failed whose owf process had ended without"
            f" finishing them (killed?): {', '.join(r[:8] for r in ended)}",
            file=sys.stderr,
        )


def run_hub_job(job_name: str, paths, *, instance=None, log_level: str = QUIET, tags=None):
    """Run one of the hub's Dagster jobs in this process against the hub at `paths`, on the
    local instance (so `make dev` shows the run). dbt's own log lines stay in the run's logs;
    the terminal gets the caller's summary (see QUIET). Returns the Dagster result."""
    import contextlib
    import io

    from pipelines.transform.dbt_server import start as keep_dbt_loaded

    # Before the definitions' imports: the dbt server imports dbt beside them (a no-op when
    # this process already keeps one; pipelines/transform/dbt_server.py).
    keep_dbt_loaded()
    from pipelines.definitions import defs

    if instance is None:
        instance = local_instance()
    claim_instance(instance)
    quiet = (
        contextlib.redirect_stdout(io.StringIO())
        if log_level in ("WARNING", QUIET)
        else contextlib.nullcontext()
    )
    with quiet:
        return defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            run_config={
                "resources": {
                    "hub": {
                        "config": {"root": str(paths.root), "governance": str(paths.governance)}
                    }
                },
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            tags={**owner_tags(), **(tags or {})},
            raise_on_error=False,
        )


def _user_errors() -> set[str]:
    """Names of the errors a user can fix - pipelines.errors.OwfError and its subclasses (all
    imported by the time a job has run in this process): their message says what is wrong
    and what to do, and their stack says nothing to the user."""
    from pipelines.errors import OwfError

    names, todo = set(), [OwfError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def step_failures(result) -> list[dict]:
    """Each failed step of a run's result: {"step", "error", "detail", "user"}.

    For an error the user can fix that made the step fail (Dagster wraps it: "Error occurred
    while executing op ..."), `error` is its message's first line and `detail` the whole
    message; for any other error, `error` is its type and first line and `detail` adds its
    stack (and its causes'), so that a bug can be reported. `user` says which."""
    import dagster as dg

    user_errors = _user_errors()
    out = []
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.STEP_FAILURE:
            continue
        outer = event.step_failure_data.error
        chain = []
        error = outer
        while error is not None:
            chain.append(error)
            error = error.cause
        user = next((e for e in chain if e.cls_name in user_errors), None)
        if user is not None:
            text = _without_type(user.message, user.cls_name)
            out.append(
                {
                    "step": event.step_key,
                    "error": text.splitlines()[0] if text else "",
                    "detail": text,
                    "user": True,
                }
            )
        else:
            inner = chain[-1] if chain else None
            first = (inner.message.strip().splitlines() or [""])[0] if inner else ""
            out.append(
                {
                    "step": event.step_key,
                    "error": first,
                    "detail": outer.to_string().strip() if outer else "",
                    "user": False,
                }
            )
    return out


def _without_type(message: str, cls_name: str) -> str:
    """An exception's message without the "module.Class: " that Python's formatting puts
    before it."""
    message = message.strip()
    head, sep, rest = message.partition(": ")
    return rest if sep and head.rsplit(".", 1)[-1] == cls_name else message


def render_step_failure(failure: dict, max_lines: int = 20) -> list[str]:
    """A failed step for the terminal: the message of an error the user can fix, in full;
    any other error with its stack."""
    lines = failure["detail"].splitlines() or [failure["error"]]
    head = f"  step failed: {failure['step']}: "
    if failure["user"]:
        shown = [head + lines[0]] + [f"    {line}" for line in lines[1:max_lines]]
        if len(lines) > max_lines:
            shown.append(f"    ... and {len(lines) - max_lines} more lines")
        return shown
    return [
        head + failure["error"] + " (an unexpected error: please report it with what follows)",
        *(f"    {line}" for line in lines),
    ]
