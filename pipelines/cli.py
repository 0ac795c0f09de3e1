"""`owf`: the One Workforce command line.

One command with sub-commands. Heavy imports (Dagster, dbt) happen inside the commands that
need them, so `owf submit` on an organisation's machine stays light.

Exit codes: 0 success; 1 the input failed validation or a check (the report says why);
2 a usage or environment problem (the message says what to do).
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import OwfError, counted
from pipelines.files import check_report_path, write_report

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


def _register_subcommands() -> None:
    from pipelines.cli_hub import audit_app, hub_app, quarantine_app
    from pipelines.cli_models import models_app
    from pipelines.cli_publish import publications_app, publish_command
    from pipelines.cli_submit import keys_app, submit_app

    app.add_typer(submit_app, name="submit")
    app.add_typer(keys_app, name="keys")
    app.add_typer(hub_app, name="hub")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(audit_app, name="audit")
    app.add_typer(models_app, name="models")
    app.command("publish")(publish_command)
    app.add_typer(publications_app, name="publications")


_register_subcommands()

GovernanceOpt = Annotated[
    Path | None,
    typer.Option(
        "--governance",
        help="Governance folder (default: the project's governance/ or $OWF_GOVERNANCE).",
    ),
]


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


@standard_app.command("validate")
def standard_validate(
    file: Annotated[
        Path, typer.Argument(help="Extract file (CSV or XLSX) in the standard's columns.")
    ],
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
    sheet: Annotated[
        str | None,
        typer.Option(
            help="Worksheet of an XLSX file to read, by the name on its tab (default: the first visible one)."
        ),
    ] = None,
) -> None:
    """Validate an extract file against the standard and report every failure."""
    from pipelines.cli_submit import _input
    from pipelines.crypto.pseudonymise import require_ods_code
    from pipelines.governance import period_bounds
    from pipelines.standard.validator import validate_file

    # Usage problems (exit 2, nothing written), as for `owf submit check`: found in review,
    # a missing file or a folder was a failed extract (exit 1), and a malformed --org or
    # --period made every row fail a rule.
    _input(file)
    if org is not None:
        require_ods_code(org)
    if period is not None:
        period_bounds(period)
    check_report_path(json_out, file)
    delim = "\t" if delimiter.lower() == "tab" else delimiter
    report = validate_file(
        file,
        extract,
        form=form,
        delimiter=delim,
        expected_org=org,
        expected_period=period,
        sheet=sheet,
    )
    typer.echo(report.render(max_rows=max_rows))
    write_report(json_out, report.to_dict())
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
    agreements = counted(summary["agreements"], "agreement")
    if summary["agreement_files"] != summary["agreements"]:
        # A file that does not load (schema, YAML, a duplicate id) is not an agreement.
        agreements += f" loaded of {counted(summary['agreement_files'], 'file')}"
    typer.echo(
        f"governance check: {counted(summary['organisations'], 'organisation')},"
        f" {agreements}, {counted(summary['errors'], 'error')},"
        f" {counted(summary['warnings'], 'warning')}"
    )
    write_report(json_out, {"summary": summary, "findings": [f.to_dict() for f in findings]})
    raise typer.Exit(1 if summary["errors"] else 0)


def _parse_day(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OwfError(f"--as-of {text!r} is not a date: write it as YYYY-MM-DD") from None


@app.command("synth")
def synth(
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: $OWF_HOME/synth, i.e. var/synth).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives byte-identical files.")
    ] = 20261124,
    months: Annotated[int, typer.Option(help="Monthly censuses to generate.")] = 24,
    first_period: Annotated[str, typer.Option(help="First census month, YYYY-MM.")] = "2024-11",
    scale: Annotated[
        str,
        typer.Option(
            help="'sample' (the governance sample system), 'national' (~220 trusts, ~1.5 million rows, one month) or a factor applied to the sample's headcounts, e.g. 0.5."
        ),
    ] = "sample",
    esr_layout: Annotated[
        bool,
        typer.Option(
            "--esr-layout/--no-esr-layout",
            help="Also write NHS trusts' staff in post in an ESR-style layout.",
        ),
    ] = True,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate/--no-validate", help="Validate every standard-layout file afterwards."
        ),
    ] = False,
) -> None:
    """Generate a synthetic health and care system: extracts for every organisation and month,
    with the ground truth beside them."""
    from pipelines.paths import owf_home
    from pipelines.synth import generate, national_month, sample_system, scaled

    _check_period(first_period, "--first-period")
    if months < 1:
        raise OwfError("--months must be at least 1")
    if not 0 <= seed < 2**32:
        raise OwfError(f"--seed must be a whole number from 0 to {2**32 - 1} (it was {seed})")
    if scale == "national":
        config = national_month(seed=seed, period=first_period)
    else:
        config = sample_system(months=months, seed=seed, first_period=first_period)
        if scale != "sample":
            try:
                factor = float(scale)
            except ValueError:
                raise OwfError(
                    f"--scale {scale!r}: use sample, national or a number such as 0.5"
                ) from None
            if not factor > 0:  # found in review: 0 and -1 wrote the sample unscaled
                raise OwfError(f"--scale {scale}: a factor must be more than 0, such as 0.5")
            config = scaled(config, factor)
        from dataclasses import replace

        config = replace(config, esr_layout=esr_layout)
    out = out or owf_home() / "synth"
    result = generate(config, out, progress=lambda m: typer.echo(f"  {m}"))
    ok = True
    if validate:
        from pipelines.standard.batch import validate_folder

        typer.echo("  validating every standard-layout file ...")
        summary = validate_folder(result.extracts_dir)
        ok = _print_org_summary(summary)
    else:
        typer.echo(f"  {'ODS':<7} " + " ".join(f"{e:>18}" for e in _EXTRACT_ORDER))
        for org, rows in result.rows_by_org.items():
            typer.echo(f"  {org:<7} " + " ".join(f"{rows.get(e, 0):>18,}" for e in _EXTRACT_ORDER))
    typer.echo(
        f"extracts in {result.extracts_dir}; ground truth in {result.truth_dir};"
        f" manifest {result.out_dir / 'manifest.json'}"
    )
    raise typer.Exit(0 if ok else 1)


_EXTRACT_ORDER = ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"]


def _print_org_summary(summary) -> bool:
    typer.echo(
        f"  {'ODS':<7} {'files':>6} " + " ".join(f"{e:>18}" for e in _EXTRACT_ORDER) + "  result"
    )
    ok = True
    for org, s in summary.items():
        status = "valid" if not s.failed else f"{len(s.failed)} FAILED"
        ok = ok and not s.failed
        typer.echo(
            f"  {org:<7} {s.files:>6} "
            + " ".join(f"{s.rows.get(e, 0):>18,}" for e in _EXTRACT_ORDER)
            + f"  {status}"
        )
        for text in s.reports[:3]:
            typer.echo("    " + text.replace("\n", "\n    "))
    return ok


def _check_period(text: str, option: str) -> None:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise OwfError(
            f"{option} {text!r} is not a month: write it as YYYY-MM (for example 2026-09)"
        )


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


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """A key file others can read is a warning to the analyst, not a Python one: found in
    review, it printed the warning's source file and line of code. Other warnings as usual."""
    from pipelines.crypto.keys import KeyFilePermissionWarning

    if issubclass(category, KeyFilePermissionWarning):
        return f"warning: {message}\n"
    return _python_warning_line(message, category, filename, lineno, line)


_python_warning_line = warnings.formatwarning


def main() -> None:
    warnings.formatwarning = _warning_line
    try:
        app()
    except OwfError as exc:
        echo_err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A path the command could not use that no check before it named (a folder it may
        # not write, a file where a folder should be): found in review, these were Python
        # traces. Each writer leaves what was stored as it was (files are written whole).
        where = f": {exc.filename}" if exc.filename else ""
        echo_err(
            f"error: {exc.strerror or exc}{where}. Check that the path is the one meant and"
            " that you may read and write there, then run the command again."
        )
        sys.exit(2)
    except Exception as exc:
        # A DuckDB file that opens but cannot be read (cut short by a full disk or a partial
        # copy) fails at its first query, wherever that is: say what it means, not a trace.
        if type(exc).__name__ != "IOException" or "duckdb" not in type(exc).__module__:
            raise
        echo_err(
            f"error: a DuckDB file could not be read: {str(exc).splitlines()[0][:300]}. The file"
            " may be damaged (a full disk, a copy cut short). If it is the hub's warehouse,"
            " restore it, with audit-head.json, from the hub's latest backup; DuckDB undoes an"
            " unfinished transaction, so what was stored before this command is as it was."
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
