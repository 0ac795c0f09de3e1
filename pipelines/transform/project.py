"""The dbt project: one cached factory, and running dbt against a hub's warehouse.

dbt always runs as a child process holding the hub's warehouse lock, with OWF_WAREHOUSE
pointing at the hub's DuckDB file (the profile reads it), so that it never races ingestion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from pipelines.errors import OwfError
from pipelines.paths import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_DIR / "target" / "manifest.json"


def dbt_executable() -> str:
    """This environment's `owf-dbt` (dbt's command line without the half second of interpreter
    shutdown after every command: pipelines/transform/dbt_main.py), else its `dbt`, else
    whichever `dbt` is on the PATH."""
    for name in ("owf-dbt", "dbt"):
        candidate = Path(sys.executable).parent / name
        if candidate.exists():
            return str(candidate)
    return "dbt"


def dbt_env(warehouse: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if warehouse is not None:
        env["OWF_WAREHOUSE"] = str(warehouse)
    return env


def _newest_source_mtime() -> float:
    files = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += [p for p in (DBT_DIR / folder).rglob("*") if p.is_file()]
    files += list((PROJECT_ROOT / "governance" / "standard" / "codelists").glob("*.csv"))
    return max(p.stat().st_mtime for p in files if p.exists())


def parse(force: bool = False) -> Path:
    """Write target/manifest.json (dbt parse) when it is missing, older than any model, macro
    or seed file, or when forced.

    Several processes may parse at once (under `dagster dev` each run and each step loads the
    definitions) while others read the manifest, and dbt writes its files in place: each
    parse writes into a folder of its own (seeded with the last partial-parse state) and
    renames the manifest, then that state, over target/'s, so a reader only ever sees a whole
    manifest."""
    if MANIFEST.exists() and not force and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST
    import shutil
    import tempfile

    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".parse-", dir=MANIFEST.parent))
    try:
        state = MANIFEST.parent / "partial_parse.msgpack"
        if state.exists():
            shutil.copyfile(state, work / state.name)
        result = subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(work),
                "--quiet",
            ],
            cwd=DBT_DIR,
            env=dbt_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise OwfError(f"dbt parse failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
        os.replace(work / MANIFEST.name, MANIFEST)
        if (work / state.name).exists():
            os.replace(work / state.name, state)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return MANIFEST


@lru_cache(maxsize=1)
def dbt_project():
    """The dagster-dbt project object, with its manifest prepared."""
    from dagster_dbt import DbtProject

    parse(force=os.environ.get("OWF_DBT_PARSE") == "1")
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def run_dbt(paths, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    """Run dbt against a hub's warehouse, holding the warehouse lock.

    Its files (compiled SQL, run results, dbt.log, and the manifest every dbt command
    rewrites in place) go to the hub's own dbt target folder, as the monthly build's do:
    never to dbt_project/target, whose manifest other processes read while this runs."""
    from pipelines.hub.warehouse import warehouse_lock

    with warehouse_lock(paths):
        result = subprocess.run(
            [
                dbt_executable(),
                *args,
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(paths.dbt_target),
                "--log-path",
                str(paths.dbt_target),
            ],
            cwd=DBT_DIR,
            env=dbt_env(paths.warehouse),
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if check and result.returncode != 0:
        raise OwfError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}")
    return result
