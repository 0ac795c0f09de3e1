"""The Dagster instance the command line and the demo run jobs on.

With $DAGSTER_HOME set (the Makefile sets it to .dagster_home), runs are recorded there, so
`make dev` shows what `make demo` did; the folder and its dagster.yaml are created on first
use. Without it, an ephemeral instance (nothing kept).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipelines.paths import PROJECT_ROOT


def local_instance():
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.ephemeral()
    folder = Path(home)
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "dagster.yaml"
    if not settings.exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", settings)
    return dg.DagsterInstance.get()
