"""`owf models`: the dbt project - generated files, builds, docs and the headline figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import OwfError

models_app = typer.Typer(
    help="The dbt models: generate, build, unit-test, headline, docs.", no_args_is_help=True
)
HubOpt = Annotated[
    Path | None,
    typer.Option("--hub", help="Hub folder (default: $OWF_HUB, else $OWF_HOME/hub, else var/hub)."),
]


def _paths(hub: Path | None):
    from pipelines.hub.home import HubPaths
    from pipelines.hub.warehouse import missing_warehouse

    # A hub must be set up there (found in review: on a folder that is none, `owf models
    # build` said to ingest first, and `owf hub ingest` then said there was no hub), and a
    # lost warehouse is named as lost, not as "ingest some submissions first". A warehouse
    # is enough: the models need no keys (a copy of a hub's warehouse and registry builds).
    paths = HubPaths.given(hub)
    lost = missing_warehouse(paths)
    if lost:
        raise OwfError(lost)
    if not paths.warehouse.exists():
        HubPaths.given(hub, exists=True)  # says there is no hub there, naming owf hub init
    return paths


@models_app.command("generate")
def models_generate(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the committed files are out of date.")
    ] = False,
) -> None:
    """Write the dbt sources and seed properties from the standard."""
    from pipelines.transform.dbt_files import stale_files, write_files

    if check:
        stale = stale_files()
        if stale:
            typer.echo(
                f"out of date: {', '.join(map(str, stale))}; run `owf models generate`", err=True
            )
            raise typer.Exit(1)
        typer.echo("dbt sources and seed properties are up to date with the standard")
        return
    written = write_files()
    for path in written:
        typer.echo(f"wrote {path}")
    if not written:
        typer.echo(
            "dbt sources and seed properties are up to date with the standard: nothing written"
        )


def run_models_job(paths, *, instance=None):
    """Refresh the registry tables and build every dbt model through the real Dagster job."""
    from pipelines.defs.instance import run_hub_job

    return run_hub_job("models_job", paths, instance=instance)


@models_app.command("build")
def models_build(hub: HubOpt = None) -> None:
    """Build the models (dbt build: seeds, models, data tests) through Dagster.

    Unit tests are not part of the build: run them with `owf models unit-test`."""
    from pipelines.defs.instance import render_step_failure, step_failures

    paths = _paths(hub)
    if not paths.warehouse.exists():
        raise OwfError(
            f"no warehouse at {paths.warehouse}: ingest some submissions first (owf hub ingest)"
        )
    result = run_models_job(paths)
    checks = result.get_asset_check_evaluations()
    failed = [e for e in checks if not e.passed]
    typer.echo(
        f"models_job {'succeeded' if result.success else 'FAILED'}: {len(checks) - len(failed)}/{len(checks)} checks passed"
    )
    for e in failed[:20]:
        typer.echo(f"  failed check {e.asset_key.to_user_string()}:{e.check_name}")
    for failure in step_failures(result)[:5]:
        typer.echo("\n".join(render_step_failure(failure)))
    raise typer.Exit(0 if result.success and not failed else 1)


@models_app.command("unit-test")
def models_unit_test(hub: HubOpt = None) -> None:
    """Run the dbt unit tests (fixed inputs, hand-computed answers) against a built warehouse.

    They pin the SQL logic, not the month's data, so the monthly build leaves them out;
    `make test` runs them, and so should anyone who changes a model."""
    import json
    import re

    from pipelines.transform.project import run_dbt

    paths = _paths(hub)
    if not paths.warehouse.exists():
        raise OwfError(
            f"no warehouse at {paths.warehouse}: the unit tests need the models built once"
            " (owf models build, or make demo)"
        )
    (paths.dbt_target / "run_results.json").unlink(missing_ok=True)
    result = run_dbt(paths, ["test", "--select", "test_type:unit"], check=False)
    failures = re.findall(r"Failure in unit_test (\S+)", result.stdout)
    # Counted from dbt's results, not its summary line, which counts the project's
    # on-run-start hooks as passes too.
    results_file = paths.dbt_target / "run_results.json"
    if results_file.exists():
        units = [
            r
            for r in json.loads(results_file.read_text())["results"]
            if r["unique_id"].startswith("unit_test.")
        ]
        passed = sum(r["status"] == "pass" for r in units)
        typer.echo(f"dbt unit tests: {passed} passed, {len(units) - passed} failed")
    for name in failures:
        typer.echo(f"  failed: {name}")
    if failures:
        typer.echo(
            "  each failure is a model whose SQL no longer gives the hand-computed answer in its"
            " YAML (dbt_project/models/); the differing rows are in dbt's log,"
            f" {paths.dbt_target / 'dbt.log'}"
        )
    if result.returncode != 0:
        if not failures:
            typer.echo(result.stdout[-4000:], err=True)
        raise typer.Exit(1)


@models_app.command("docs")
def models_docs(hub: HubOpt = None) -> None:
    """Generate the dbt docs site (index.html in the hub's dbt target folder)."""
    from pipelines.transform.project import run_dbt

    paths = _paths(hub)
    if not paths.warehouse.exists():
        raise OwfError(
            f"no warehouse at {paths.warehouse}: run `make demo` first (the docs read the built models)"
        )
    run_dbt(paths, ["docs", "generate"])
    typer.echo(
        f"dbt docs written to {paths.dbt_target / 'index.html'}"
        f" (serve: cd dbt_project && ../.venv/bin/dbt docs serve --profiles-dir ."
        f" --target-path {paths.dbt_target})"
    )


@models_app.command("headline")
def models_headline(
    hub: HubOpt = None,
    period: Annotated[str | None, typer.Option(help="YYYY-MM (default: latest).")] = None,
) -> None:
    """The system's headline figures for a period."""
    from pipelines.transform.headline import headline, render_headline

    typer.echo(render_headline(headline(_paths(hub), period)))
