"""`owf submit` and `owf keys`: the organisation-side commands. Imports neither Dagster nor dbt."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from pipelines.errors import OwfError

submit_app = typer.Typer(
    help="Check an extract and prepare a signed, encrypted package.", no_args_is_help=True
)
keys_app = typer.Typer(help="Generate, export and register keys.", no_args_is_help=True)

Org = Annotated[str, typer.Option("--org", help="Your organisation's ODS code, e.g. RW1.")]
ExtractOpt = Annotated[
    str, typer.Option("--extract", "-e", help="Extract type, e.g. staff_in_post.")
]
Period = Annotated[str, typer.Option("--period", help="Census month, YYYY-MM.")]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Mapping profile name (governance/profiles/) or file; default: the standard's own columns.",
    ),
]
Governance = Annotated[
    Path | None,
    typer.Option(
        "--governance",
        help="Governance folder (default: the project's governance/ or $OWF_GOVERNANCE).",
    ),
]
RegistryFolder = Annotated[
    Path | None,
    typer.Option(
        "--governance",
        help="The registry folder to write (holding organisations.yaml); default: the hub's"
        " registry, see --hub.",
    ),
]
RegistryHub = Annotated[
    Path | None,
    typer.Option(
        "--hub",
        help="The hub whose registry (<hub>/governance) to write (default: $OWF_HUB, else"
        " $OWF_HOME/hub, else var/hub, where a hub is set up; else the project's governance/"
        " or $OWF_GOVERNANCE). --governance names a registry folder instead.",
    ),
]
Delimiter = Annotated[
    str | None, typer.Option(help="Field delimiter of a CSV input: ',', ';', '|' or 'tab'.")
]
Sheet = Annotated[
    str | None,
    typer.Option(
        help="Worksheet of an XLSX input to read, by the name on its tab (default: the first visible one)."
    ),
]


def _delim(text: str | None) -> str | None:
    """--delimiter: one of the separators the reader knows, or "tab"."""
    from pipelines.standard.reader import DELIMITER_NAMES

    if text is None:
        return None
    value = "\t" if text.lower() == "tab" else text
    if value not in DELIMITER_NAMES:
        raise OwfError(
            f"--delimiter {text!r} is not a separator the reader knows: use ',', ';', '|' or tab"
        )
    return value


def _input(path: Path) -> Path:
    """The export named on the command line: a path that names no file is a usage problem
    (exit 2, nothing written), not an extract refused for what it holds."""
    if path.is_dir():
        raise OwfError(f"{path} is a folder: give the export file in it (CSV or XLSX)")
    if not path.exists():
        raise OwfError(
            f"the file {path} does not exist (looked for it from {Path.cwd()}); check the"
            " path. Nothing was written."
        )
    return path


def _say(message: str) -> None:
    typer.echo(message, err=True)


@submit_app.command("check")
def submit_check(
    input_file: Annotated[Path, typer.Argument(help="The export: CSV or XLSX.")],
    org: Org,
    extract: ExtractOpt,
    period: Period,
    profile: Profile = None,
    governance: Governance = None,
    delimiter: Delimiter = None,
    sheet: Sheet = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows listed per rule on screen.")] = 10,
) -> None:
    """Everything short of packaging: read, map, validate, minimise, scan. Report only."""
    from pipelines.files import check_report_path, write_report
    from pipelines.submission.prepare import render_receipt, run_submission

    check_report_path(json_out, input_file)
    outcome = run_submission(
        _input(input_file),
        org=org,
        extract=extract,
        period=period,
        profile=profile,
        delimiter=_delim(delimiter),
        sheet=sheet,
        governance=governance,
        package=False,
        progress=_say,
    )
    typer.echo(render_receipt(outcome, max_rows=max_rows))
    write_report(json_out, outcome.receipt)
    raise typer.Exit(0 if outcome.ok else 1)


@submit_app.command("prepare")
def submit_prepare(
    input_file: Annotated[Path, typer.Argument(help="The export: CSV or XLSX.")],
    org: Org,
    extract: ExtractOpt,
    period: Period,
    profile: Profile = None,
    governance: Governance = None,
    delimiter: Delimiter = None,
    sheet: Sheet = None,
    out: Annotated[Path, typer.Option(help="Folder for the package and its receipt.")] = Path(
        "outbox"
    ),
    keys: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding <ORG>-signing.key, system-pseudonymisation.key and hub-encryption.pub (default: $OWF_KEYS or ./keys)."
        ),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(help="Your organisation's signing private key (overrides --keys)."),
    ] = None,
    system_key: Annotated[
        Path | None, typer.Option(help="The system pseudonymisation key (overrides --keys).")
    ] = None,
    hub_key: Annotated[
        Path | None, typer.Option(help="The hub's public encryption key (overrides --keys).")
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows listed per rule on screen.")] = 10,
) -> None:
    """Map, validate, minimise, pseudonymise at source, sign and encrypt; write the package and a receipt."""
    from pipelines.submission.prepare import key_paths, render_receipt, run_submission

    outcome = run_submission(
        _input(input_file),
        org=org,
        extract=extract,
        period=period,
        profile=profile,
        delimiter=_delim(delimiter),
        sheet=sheet,
        governance=governance,
        package=True,
        out_dir=out,
        key_paths_=key_paths(keys, org, signing_key, system_key, hub_key),
        progress=_say,
    )
    typer.echo(render_receipt(outcome, max_rows=max_rows))
    raise typer.Exit(0 if outcome.ok else 1)


@keys_app.command("generate")
def keys_generate(
    kind: Annotated[
        str,
        typer.Argument(
            help="signing (an organisation's Ed25519 pair), hub (the hub's X25519 encryption pair and its pseudonymisation key) or system (the system pseudonymisation key)."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder to write the keys into (created 0700 if missing).")
    ] = Path("keys"),
    org: Annotated[str | None, typer.Option(help="ODS code, for a signing key.")] = None,
    epoch: Annotated[
        int, typer.Option(help="Key epoch, for system and hub pseudonymisation keys.")
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace existing key files.")] = False,
) -> None:
    """Generate key files. Private keys are written 0600 and never printed."""
    from pipelines.crypto import keys as kf
    from pipelines.crypto.encryption import generate_encryption_key
    from pipelines.crypto.pseudonymise import require_ods_code
    from pipelines.crypto.signing import generate_signing_key, key_fingerprint, public_key_b64

    # Every file is checked before any is written, and a pair is written together
    # (written_together): a pair half-replaced (a new private key beside the old public one)
    # would sign packages the hub cannot verify.
    targets = {
        "signing": [f"{org}-signing.key", f"{org}-signing.pub"],
        "hub": ["hub-encryption.key", "hub-encryption.pub", "hub-pseudonymisation.key"],
        "system": ["system-pseudonymisation.key"],
    }.get(kind)
    if targets is None:
        raise OwfError(f"unknown key kind {kind!r}: use signing, hub or system")
    if not 1 <= epoch <= kf.MAX_EPOCH:
        raise OwfError(
            f"--epoch must be from 1 to {kf.MAX_EPOCH} (it was {epoch}): keys are numbered"
            " from 1, one more at each rotation"
        )
    if org and kind != "signing":
        raise OwfError(
            f"--org is for a signing key: a {kind} key belongs to the system, not to {org}."
            " Leave out --org."
        )
    if kind == "signing":
        if not org:
            raise OwfError("a signing key belongs to an organisation: give --org (its ODS code)")
        require_ods_code(org)
    existing = [str(out / name) for name in targets if (out / name).exists()]
    if existing and not overwrite:
        raise OwfError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; nothing"
            " was written. Move the old files aside together (a key pair belongs together), or"
            " pass --overwrite to replace them all."
        )
    if kind == "signing":
        key = generate_signing_key()
        key_id = f"{org}-{dt.date.today():%Y%m%d}"
        with kf.written_together():
            kf.write_private_key(out / f"{org}-signing.key", key, overwrite=overwrite)
            kf.write_public_key(
                out / f"{org}-signing.pub", key.public_key(), key_id, overwrite=overwrite
            )
        typer.echo(
            f"wrote {out / f'{org}-signing.key'} (private, 0600) and {out / f'{org}-signing.pub'}"
        )
        typer.echo(
            f"public key {public_key_b64(key.public_key())} (fingerprint {key_fingerprint(key.public_key())})"
        )
        typer.echo(
            f"send the .pub file to the hub, which registers it with: owf keys register --org {org} --public-key {out / f'{org}-signing.pub'}"
        )
    elif kind == "hub":
        key = generate_encryption_key()
        with kf.written_together():
            kf.write_private_key(out / "hub-encryption.key", key, overwrite=overwrite)
            kf.write_public_key(
                out / "hub-encryption.pub", key.public_key(), "hub", overwrite=overwrite
            )
            kf.write_symmetric_key(
                out / "hub-pseudonymisation.key",
                kf.generate_symmetric_key(kf.HUB_KEY, epoch),
                overwrite=overwrite,
            )
        typer.echo(
            f"wrote {out / 'hub-encryption.key'} and {out / 'hub-pseudonymisation.key'} (private, 0600; never leave the hub)"
        )
        typer.echo(
            f"and {out / 'hub-encryption.pub'}: give it to every organisation (fingerprint {key_fingerprint(key.public_key())})"
        )
    elif kind == "system":
        kf.write_symmetric_key(
            out / "system-pseudonymisation.key",
            kf.generate_symmetric_key(kf.SYSTEM_KEY, epoch),
            overwrite=overwrite,
        )
        typer.echo(
            f"wrote {out / 'system-pseudonymisation.key'} (0600, epoch {epoch}); distribute it to organisations by a secure route, never by e-mail"
        )
        typer.echo(
            f"register its check value at the hub, so that a package made under any other key is refused: owf keys register-system --key {out / 'system-pseudonymisation.key'}"
        )


@keys_app.command("export-public")
def keys_export_public(
    private_key: Annotated[
        Path,
        typer.Argument(help="A signing (Ed25519) or hub encryption (X25519) private key file."),
    ],
    out: Annotated[Path, typer.Option(help="Where to write the public key file.")],
    key_id: Annotated[str, typer.Option(help="Label written in the public key file.")] = "exported",
) -> None:
    """Write the public half of a private key file."""
    from pipelines.crypto import keys as kf

    try:
        key = kf.load_signing_private_key(private_key)
    except OwfError as as_signing:
        try:
            key = kf.load_encryption_private_key(private_key)
        except OwfError:
            # Neither kind: say what either would be, not only the second tried.
            raise OwfError(
                f"{str(as_signing).rstrip('.')}. It is not a hub encryption (X25519) private key either: give"
                " an organisation's signing key (<ORG>-signing.key) or the hub's"
                " hub-encryption.key"
            ) from None
    kf.write_public_key(out, key.public_key(), key_id)
    typer.echo(f"wrote {out}")


@keys_app.command("register")
def keys_register(
    org: Org,
    public_key: Annotated[
        Path,
        typer.Option("--public-key", help="The organisation's signing public key file (.pub)."),
    ],
    governance: RegistryFolder = None,
    hub: RegistryHub = None,
    key_id: Annotated[
        str | None, typer.Option(help="Label for the key (default: ORG-YYYYMMDD).")
    ] = None,
    valid_from: Annotated[
        str | None, typer.Option(help="First day the key is valid (default today).")
    ] = None,
    valid_days: Annotated[int, typer.Option(help="Days the key stays valid.")] = 730,
) -> None:
    """Hub side: add an organisation's public signing key to organisations.yaml.

    The registry with the key added is checked first (owf governance check, in a private
    copy of the folder): if it has errors, they are printed and nothing is written."""
    from pipelines.crypto import keys as kf
    from pipelines.crypto.signing import key_fingerprint, public_key_b64
    from pipelines.submission.prepare import register_signing_key

    try:
        start = dt.date.fromisoformat(valid_from) if valid_from else dt.date.today()
    except ValueError:
        raise OwfError(
            f"--valid-from {valid_from!r} is not a date: write it as YYYY-MM-DD (for example"
            f" {dt.date.today():%Y-%m-%d})"
        ) from None
    if valid_days < 1:
        raise OwfError(f"--valid-days must be at least 1 (it was {valid_days})")
    pub = kf.load_signing_public_key(public_key)
    folder = _registry_folder(governance, hub)

    without_errors = _registry_stays_valid(
        folder,
        "registering this key",
        "Correct the key's options (--key-id, --valid-from, --valid-days), or the registry"
        " (owf governance check)",
    )

    path = register_signing_key(
        folder,
        org,
        public_key_b64(pub),
        key_id or f"{org}-{start:%Y%m%d}",
        start,
        start + dt.timedelta(days=valid_days),
        verify=without_errors,
    )
    typer.echo(
        f"registered {org}'s key {key_fingerprint(pub)} in {path}, valid {start}..{start + dt.timedelta(days=valid_days)}"
    )


@keys_app.command("register-system")
def keys_register_system(
    key: Annotated[
        Path,
        typer.Option("--key", help="The system pseudonymisation key file it distributed."),
    ],
    governance: RegistryFolder = None,
    hub: RegistryHub = None,
) -> None:
    """Hub side: register the system pseudonymisation key's check value (not the key) in
    organisations.yaml, so that the hub and `owf submit prepare` refuse a package made
    under another key (its people could never be linked with other organisations')."""
    from pipelines.crypto import keys as kf
    from pipelines.crypto.pseudonymise import system_key_check
    from pipelines.submission.prepare import register_system_key

    system = kf.load_symmetric_key(key, kf.SYSTEM_KEY)
    check = system_key_check(system.key)
    folder = _registry_folder(governance, hub)
    path = folder / "organisations.yaml"
    # A registry whose schemas came with an older hub (`owf hub init` copies them) does not
    # know system_keys: say so and how to bring the schema up to date, rather than write
    # what every later command would refuse (found in re-review).
    without_errors = _registry_stays_valid(
        folder,
        "registering the system key",
        f"If the error is that 'system_keys' was unexpected, {folder / 'schemas'} predates"
        " system key checks: copy organisations.schema.json from the project's"
        " governance/schemas/ over it, check the registry (owf governance check), and run"
        " this again.",
    )
    if register_system_key(folder, system.epoch, check, verify=without_errors):
        typer.echo(f"registered the system key of epoch {system.epoch} (check {check}) in {path}")
    else:
        typer.echo(
            f"{path} already registers this system key (epoch {system.epoch}, check {check})"
        )


def _registry_folder(governance: Path | None, hub: Path | None) -> Path:
    """The registry the register commands write: --governance; else the registry of the hub
    that --hub names (which must be set up), or of the default hub where one is set up; else
    the project's governance/ (or $OWF_GOVERNANCE). Found in review: with no --governance,
    a key was written into the project's registry while the hub reads its own copy
    (<hub>/governance, made by `owf hub init`), so the hub went on refusing the packages."""
    from pipelines.hub.home import HubPaths

    if governance is not None:
        folder = Path(governance)
    else:
        paths = HubPaths.given(hub, exists=True) if hub is not None else HubPaths.default()
        folder = paths.governance
    if not (folder / "organisations.yaml").is_file():
        # Found in review: a FileNotFoundError trace, after a lock file was made there.
        raise OwfError(
            f"{folder} holds no registry (organisations.yaml): give --governance the registry"
            " folder, or --hub the hub's folder. Nothing was written."
        )
    return folder


def _registry_stays_valid(folder: Path, doing: str, what_to_do: str):
    """A `verify(path, new_text)` for the register commands: the registry with the change is
    checked first (owf governance check, on a private copy of the folder); if it has errors
    they are printed, named as the user's files, and OwfError says nothing was written."""

    def without_errors(path: Path, text: str) -> None:
        import shutil
        import tempfile

        from pipelines.governance.check import run_check

        with tempfile.TemporaryDirectory(prefix="owf-register-") as tmp:
            trial = Path(tmp) / folder.name
            shutil.copytree(folder, trial)
            (trial / path.name).write_text(text, encoding="utf-8")
            findings, summary = run_check(trial)
        if summary["errors"]:
            # Named as the user's file, not the trial copy (found in review: a bad --key-id
            # was reported against /tmp/owf-register-.../organisations.yaml, row 35); its
            # rows are the file's as it would be with the change made.
            for f in findings:
                if f.severity == "error":
                    f = dataclasses.replace(
                        f,
                        file=f.file and f.file.replace(str(trial), str(folder)),
                        message=f.message.replace(str(trial), str(folder)),
                    )
                    typer.echo(f"{f.render()} (with the change made)", err=True)
            raise OwfError(
                f"{doing} would leave {path} with errors (above); nothing was written. {what_to_do}"
            )

    return without_errors
