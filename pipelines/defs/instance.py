"""The Dagster instance the command line and the demo run jobs on.

With $DAGSTER_HOME set (the Makefile sets it to .dagster_home), runs are recorded there, so
`make dev` shows what `make demo` did; the folder and its dagster.yaml are created on first
use. Without it, an ephemeral instance (nothing kept).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines.paths import PROJECT_ROOT


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
    """Put the project's dagster.yaml in the Dagster home `folder`. Returns a message when an
    existing copy was replaced (None when there was none, or it was the same).

    The project's file is the source of truth: an older copy (before `granularity: run`,
    say) would let an ingest run land between a publish run's build and its publication.
    A copy that differs is kept beside it as dagster.yaml.previous, and the message says so."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "dagster.yaml"
    wanted = (PROJECT_ROOT / "dagster.yaml").read_bytes()
    if not settings.exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", settings)
        return None
    if settings.read_bytes() == wanted:
        return None
    previous = folder / "dagster.yaml.previous"
    shutil.copyfile(settings, previous)
    staged = folder / ".dagster.yaml.new"
    staged.write_bytes(wanted)
    os.replace(staged, settings)  # a Dagster process starting meanwhile reads one or the other
    return (
        f"Dagster settings: {settings} differed from the project's dagster.yaml and was"
        f" replaced by it; the old one is {previous}. Make lasting changes in dagster.yaml"
        " at the project root."
    )


if __name__ == "__main__":  # `make dev`: $DAGSTER_HOME's settings before `dagster dev`
    message = install_settings(Path(os.environ["DAGSTER_HOME"]))
    if message:
        print(message)


def run_hub_job(job_name: str, paths, *, instance=None, log_level: str = "WARNING", tags=None):
    """Run one of the hub's Dagster jobs in this process against the hub at `paths`, on the
    local instance (so `make dev` shows the run). dbt's own log lines stay in the run's logs;
    the terminal gets warnings and the caller's summary. Returns the Dagster result."""
    import contextlib
    import io

    from pipelines.definitions import defs

    if instance is None:
        instance = local_instance()
    quiet = (
        contextlib.redirect_stdout(io.StringIO())
        if log_level == "WARNING"
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
            tags=tags,
            raise_on_error=False,
        )
