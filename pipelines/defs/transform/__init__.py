"""Transform: the dbt project (staging, intermediate, marts) as Dagster assets.

dbt tests become asset checks (dagster-dbt); dbt builds hold the warehouse lock and run in
the warehouse pool, so they never race ingestion. (No `from __future__ import annotations`:
Dagster reads the resource annotations at definition time.)
"""

import importlib.metadata
import json
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from pipelines.defs.resources import WAREHOUSE_POOL, HubResource, waits_logged
from pipelines.errors import OwfError
from pipelines.hub.warehouse import compact_if_owed, warehouse_lock
from pipelines.transform.incremental import build_day, plan_build, record_fingerprint
from pipelines.transform.project import DBT_DIR, dbt_executable, dbt_project

OWNERS = ["team:system-data-engineering"]
LAYERS = ("staging", "intermediate", "marts", "published")
# dbt's file log (dbt.log in the hub's target folder) at info, not dbt's default debug: debug
# writes every statement of every node (about 10 MB a build), and that logging was a sixth of
# the dbt threads' time in a resubmission's build (0.4-0.5 s of its 9.5 s, docs/benchmarks.md).
# Errors, and each node's start and end, are still there; the SQL each node ran is in
# target/run/.
#
# --no-write-json: dbt writes no manifest.json or run_results.json to the hub's target folder.
# It wrote the manifest (1.6 MB) twice per build, after parsing and again at the end, and the
# results once: together 0.3-0.6 s of a resubmission's build (docs/benchmarks.md, "Published
# views kept, no dbt artifacts, one GX asset"), for files no part of the hub reads (Dagster
# reads dbt's events as they come, and its own copy of the manifest). Each node's status and
# time stay in dbt.log and in Dagster's event log; dbt run outside the monthly build (`owf
# models unit-test`) still writes both files.
BUILD_ARGS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--log-level-file",
    "info",
    "--no-write-json",
]
# An incremental build keeps the published views as they are (their tests still run): see
# workforce_models.
KEPT_VIEWS = "path:models/published,config.materialized:view"
KEEP_VIEWS_ARGS = ["--exclude", KEPT_VIEWS, "--indirect-selection", "empty"]
# A full build runs one model at a time (dbt's other thread left idle). Its big models' queries
# each use both of DuckDB's threads and as much of its memory cap as they can get, and DuckDB's
# operators do not see each other's memory: two such queries at once ran a six-month national
# warehouse out of memory at the 2 GB cap (`int_membership_windows` with `int_person_months` or
# `fct_vacancies`), in 4 of 11 full builds with two threads, and gained nothing when they
# passed (docs/models.md, "Memory"). Incremental builds keep two: their queries are small, and
# the second thread hides dbt's own time per node.
FULL_BUILD_THREADS_ENV = "OWF_DBT_FULL_BUILD_THREADS"


def full_build_threads() -> str:
    """dbt's thread count for a full build: OWF_DBT_FULL_BUILD_THREADS if set, else 1."""
    value = os.environ.get(FULL_BUILD_THREADS_ENV, "").strip() or "1"
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise OwfError(
            f"{FULL_BUILD_THREADS_ENV}={value!r} in the environment: the number of dbt threads"
            " for a full build must be a whole number of at least 1. Unset it (one thread, the"
            ' default; docs/models.md, "Memory") or set a number, e.g. 2. Nothing was built;'
            " the latest publication is unchanged."
        )
    return str(int(value))


class WorkforceTranslator(DagsterDbtTranslator):
    """Maps dbt nodes to Dagster assets.

    - Models keep their dbt name as the asset key, grouped by layer (their folder); seeds
      (the standard's code lists) are in the group "reference".
    - Sources keep the default key <source>/<table> (raw/staff_in_post, governance/...), which
      is exactly what ingestion and the registry assets produce, so lineage joins up.
    """

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        for layer in LAYERS:
            if layer in fqn:
                return layer
        return super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return OWNERS


class WorkforceDbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two per-run costs that buy nothing here.

    Before every dbt invocation dagster-dbt (0.29) starts `dbt --version` in a subprocess to
    learn the version, and builds a dbt adapter in the Dagster process; each run gets a fresh
    resource, so both are paid on every build: about 3 s together on these 2 cores, against a
    resubmission's target of 15 s. The version is the installed dbt-core's whenever the
    executable is this environment's own dbt (as `dbt_executable()` picks it). The adapter is
    used only to fetch row counts and column metadata after the build, which these assets do
    not ask for; without it dagster-dbt also streams events as they come rather than after dbt
    exits (it waits only to release a DuckDB lock its own adapter would hold)."""

    @cached_property
    def _cli_version(self):
        from packaging import version

        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(importlib.metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        return None


TRANSLATOR = WorkforceTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@cache
def kept_view_keys() -> tuple[dg.AssetKey, ...]:
    """The asset keys of the models KEPT_VIEWS selects: the published views."""
    manifest = json.loads(Path(dbt_project().manifest_path).read_text())
    return tuple(
        sorted(
            (
                TRANSLATOR.get_asset_key(node)
                for node in manifest["nodes"].values()
                if node["resource_type"] == "model"
                and node["config"]["materialized"] == "view"
                and Path(node["original_file_path"]).parts[:2] == ("models", "published")
            ),
            key=str,
        )
    )


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
    name="workforce_models",
)
def workforce_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, hub: HubResource):
    """dbt build: seeds, models and data tests, against the hub's warehouse.

    Incremental when only submissions changed since the last successful build, in full
    otherwise (pipelines/transform/incremental.py, docs/models.md "Incremental builds").

    Unit tests are left out (`--exclude-resource-type unit_test`): their inputs are fixed, so
    they say nothing about this month's data, and dbt recommends running them in development
    and CI only. They run in `make test` (tests/integration/test_models.py) and with
    `owf models unit-test`; in the monthly build they cost about 1.5 s for nothing."""
    paths = hub.paths()
    threads = full_build_threads()  # before anything is planned or built
    previous = {name: os.environ.get(name) for name in ("OWF_WAREHOUSE", "OWF_AS_OF_DATE")}
    os.environ["OWF_WAREHOUSE"] = str(paths.warehouse)
    try:
        with waits_logged(context), warehouse_lock(paths):
            # One target folder per hub: dbt's partial-parse state records the warehouse path
            # (the profile), so it is reusable only by later builds of the same hub; there it
            # saves a full parse of the project (about 3 s) on every build after the first.
            # Builds of a hub never overlap (the lock), so they can share the folder; the last
            # build's results go first, so that a build which dies before dbt writes its own
            # can never be read as having them.
            (paths.dbt_target / "run_results.json").unlink(missing_ok=True)
            # Incremental unless anything but the submissions changed since the last
            # successful build (pipelines/transform/incremental.py).
            wh = duckdb.connect(str(paths.warehouse))
            try:
                day = build_day(wh)
                fingerprint, full = plan_build(wh, day)
            finally:
                wh.close()
            context.log.info(
                "Full build: the project, code lists, registry, agreements in force or tools"
                " changed since the last successful build (or there was none)."
                if full
                else "Incremental build: only submissions changed since the last build."
            )
            # One build day throughout, the fingerprinted one, even past midnight. Given to
            # dbt as an environment variable, not a var: dbt parses the whole project again
            # (2.4 s) whenever its vars change, so a var of the day made every new day's
            # first build do that; as_of_date() (macros/agreements.sql) reads the variable
            # only when dbt runs the SQL, so a new day re-parses nothing.
            os.environ["OWF_AS_OF_DATE"] = day.isoformat()
            args = [*BUILD_ARGS, "--vars", json.dumps({"incremental_builds": True})]
            if full:
                args += ["--full-refresh", "--threads", threads]
            else:
                # The code lists (seeds) are part of the fingerprint: an incremental build
                # has them as the last build loaded them, and loading them again (19 tables,
                # about 0.4 s at the head of the build) would change nothing. Their assets
                # are then planned in the run but not materialized.
                args += ["--exclude-resource-type", "seed"]
            kept_views = []
            if not full and not context.is_subset:
                # The published views too. A published view is its SQL, which reads only the
                # marts (ref() and nothing else: no build day, no variable), and the
                # fingerprint says the project is as the last successful build left it, so the
                # view is as that build created it; it reads the tables this build rebuilds.
                # Creating the 13 again, with their Python overhead in dbt, cost about 1.3 s of
                # the dbt threads' time in a resubmission's build. (The staging views are made
                # again: they hold the build day, in in_force().) `--indirect-selection empty`
                # keeps the views' data tests, which `--exclude` would otherwise take with
                # them: every node is then selected directly (`fqn:*`), tests too.
                args += KEEP_VIEWS_ARGS
                kept_views = [k for k in kept_view_keys() if k in context.selected_asset_keys]
            events = dbt.cli(args, context=context, target_path=paths.dbt_target).stream()
            yield from with_kept_views(context, events, kept_views)
            wh = duckdb.connect(str(paths.warehouse))
            try:
                record_fingerprint(wh, fingerprint, day)
            except BaseException:
                wh.close()
                raise
            # The models' replaced rows leave purged or re-keyed values in freed blocks
            # (compact_if_owed closes the connection).
            compact_if_owed(paths, wh, f"dagster:{context.run.run_id[:8]}", models_rebuilt=True)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def with_kept_views(context, events, kept: list[dg.AssetKey]):
    """dbt's events, then an output for each view an incremental build kept: as it is, its SQL
    as the last build created it, over this build's tables. Without an output, the steps after
    this one that read them (the publication) would be skipped. They come last: Dagster takes
    a multi-asset's outputs only in dependency order, and the published views are the
    project's last layer (no model reads them; tests/integration/test_publish.py checks)."""
    built: set[str] = set()
    for event in events:
        if isinstance(event, dg.Output):
            built.add(event.output_name)
        yield event
    for key in kept:
        name = context.assets_def.get_output_name_for_asset_key(key)
        if name not in built:
            yield dg.Output(
                None,
                output_name=name,
                metadata={"dbt": "view kept: an incremental build does not create it again"},
            )


models_job = dg.define_asset_job(
    "models_job",
    selection=dg.AssetSelection.assets(workforce_models).upstream()
    - dg.AssetSelection.groups("ingest"),
    description="Refresh the registry tables and build every dbt model (with its tests).",
)

defs = dg.Definitions(
    assets=[workforce_models],
    jobs=[models_job],
    resources={
        "dbt": WorkforceDbtCli(
            project_dir=str(DBT_DIR), profiles_dir=str(DBT_DIR), dbt_executable=dbt_executable()
        )
    },
)
