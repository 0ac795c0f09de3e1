"""`owf`: the One Workforce command line.

One command with sub-commands. Heavy imports (Dagster, dbt) happen inside the commands that
need them, so `owf submit` on an organisation's machine stays light.

Exit codes: 0 success; 1 the input failed validation or a check (the report says why);
2 a usage or environment problem (the message says what to do).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import OwfError

app = typer.Typer(
    name="owf",
    help="One Workforce: share workforce data across a health and care system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
standard_app = typer.Typer(help="The common workforce data standard.", no_args_is_help=True)
governance_app = typer.Typer(help="Organisations, agreements and policies.", no_args_is_help=True)
app.add_typer(standard_app, name="standard")
app.add_typer(governance_app, name="governance")

GovernanceOpt = Annotated[
    Path | None,
    typer.Option(
        "--governance",
        help="Governance folder (default: the project's governance/ or $OWF_GOVERNANCE).",
    ),
]


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


def _write_json(path: Path | None, data: dict) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OwfError(f"cannot write the report to {path}: {exc.strerror}") from None


@standard_app.command("validate")
def standard_validate(
    file: Annotated[Path, typer.Argument(help="Extract file (CSV) in the standard's columns.")],
    extract: Annotated[
        str, typer.Option("--extract", "-e", help="Extract type, e.g. staff_in_post.")
    ],
    form: Annotated[
        str, typer.Option(help="source (as held by the organisation) or submitted (pseudonymised).")
    ] = "source",
    delimiter: Annotated[
        str, typer.Option(help="Field delimiter: ',' (standard), ';', '|' or 'tab'.")
    ] = ",",
    org: Annotated[
        str | None, typer.Option(help="Expect every row to belong to this ODS code.")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Expect every row to be for this period (YYYY-MM).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the full report as JSON here.")
    ] = None,
    max_rows: Annotated[
        int,
        typer.Option(
            help="Rows listed per rule on screen (the JSON lists up to 1,000; totals are always exact)."
        ),
    ] = 10,
) -> None:
    """Validate an extract file against the standard and report every failure."""
    from pipelines.standard.validator import validate_file

    delim = "\t" if delimiter.lower() == "tab" else delimiter
    report = validate_file(
        file, extract, form=form, delimiter=delim, expected_org=org, expected_period=period
    )
    typer.echo(report.render(max_rows=max_rows))
    _write_json(json_out, report.to_dict())
    raise typer.Exit(0 if report.ok else 1)


@standard_app.command("docs")
def standard_docs(
    check: Annotated[
        bool, typer.Option("--check", help="Fail if the committed dictionary is out of date.")
    ] = False,
) -> None:
    """Regenerate governance/standard/DATA_DICTIONARY.md from the standard."""
    from pipelines.standard import load_standard
    from pipelines.standard.dictionary import (
        dictionary_is_current,
        dictionary_path,
        write_dictionary,
    )

    std = load_standard()
    if check:
        if dictionary_is_current(std):
            typer.echo(f"{dictionary_path(std)} is up to date with standard v{std.version}.")
            return
        echo_err(f"{dictionary_path(std)} is out of date: run `owf standard docs`.")
        raise typer.Exit(1)
    path = write_dictionary(std)
    typer.echo(f"wrote {path} (standard v{std.version})")


@governance_app.command("check")
def governance_check(
    governance: GovernanceOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="Check dates as of this day (YYYY-MM-DD); default today.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the findings as JSON here.")
    ] = None,
) -> None:
    """Check organisations, agreements and policies against their schemas and each other."""
    from pipelines.governance.check import run_check

    today = _parse_day(as_of)
    findings, summary = run_check(governance, today=today)
    for f in findings:
        typer.echo(f.render())
    typer.echo(
        f"governance check: {summary['organisations']} organisations,"
        f" {summary['agreements']} agreements, {summary['errors']} errors,"
        f" {summary['warnings']} warnings"
    )
    _write_json(json_out, {"summary": summary, "findings": [f.to_dict() for f in findings]})
    raise typer.Exit(1 if summary["errors"] else 0)


def _parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OwfError(f"--as-of {text!r} is not a date: write it as YYYY-MM-DD") from None


@app.command("demo")
def demo(
    home: Annotated[
        Path | None,
        typer.Option(
            help="Working folder for the demo (default: var/ in the project, or $OWF_HOME)."
        ),
    ] = None,
) -> None:
    """Run the whole system end to end on the synthetic sample system."""
    from pipelines.demo import run_demo

    ok = run_demo(home)
    raise typer.Exit(0 if ok else 1)


@app.command("version")
def version() -> None:
    """Print the tool and standard versions."""
    from pipelines import __version__
    from pipelines.standard import load_standard

    typer.echo(f"owf {__version__}, common workforce data standard v{load_standard().version}")


def main() -> None:
    try:
        app()
    except OwfError as exc:
        echo_err(f"error: {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
