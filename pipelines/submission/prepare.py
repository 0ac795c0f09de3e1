"""`owf submit check` and `owf submit prepare`: from an HR export to a sealed package.

Stages, each reported with its time (long inputs show where they are):
  governance   the organisation is registered; an active agreement covers this extract and period
  read         CSV or XLSX into DuckDB, column by column
  map          the mapping profile turns the export's columns into the standard's
  validate     every rule of the standard (source form); a failure stops here with the report
  minimise     keep only the fields the agreement permits; date of birth becomes an age band
  pseudonymise NI number under the system key (stage 1); assignment number under the
               organisation's key
  scan         no NI number, NHS number, e-mail address, date of birth or postcode may remain
  package      Parquet payload, HPKE-encrypted to the hub, signed by the organisation
Nothing is written unless every stage passes; the receipt says what happened either way and
never holds an identifier.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from pipelines import __version__
from pipelines.crypto import keys as keyfiles
from pipelines.crypto.pseudonymise import (
    assignment_key,
    person_pseudonym_column,
    pseudonymise_column,
    require_ods_code,
    system_key_check,
)
from pipelines.crypto.signing import key_fingerprint
from pipelines.errors import Finding, OwfError, counted
from pipelines.filelock import exclusive
from pipelines.files import write_whole
from pipelines.governance import Governance, Refusal, load_governance, period_bounds
from pipelines.hub.packages import registry_key_resolver
from pipelines.standard import SOURCE, SUBMITTED, Extract, Standard, load_standard
from pipelines.standard.reader import ARROW_BATCH_ROWS
from pipelines.standard.validator import (
    DEFAULT_MAX_ROWS_PER_RULE,
    ValidationReport,
    load_source,
    qi,
    validate_relation,
)
from pipelines.submission.package import SUFFIX, payload_bytes, payload_sql_type, seal_package
from pipelines.submission.pii import scan_for_identifiers
from pipelines.submission.profiles import MAPPED_TABLE, apply_profile, header_names, load_profile


@dataclass
class SubmissionKeys:
    signing_key: Ed25519PrivateKey
    system_key: keyfiles.SymmetricKey
    hub_public_key: X25519PublicKey


def key_paths(
    keys_dir: Path | None, org: str, signing: Path | None, system: Path | None, hub: Path | None
) -> dict[str, Path]:
    base = Path(keys_dir) if keys_dir else Path(os.environ.get("OWF_KEYS", "keys"))
    return {
        "signing": signing or base / f"{org}-signing.key",
        "system": system or base / "system-pseudonymisation.key",
        "hub": hub or base / "hub-encryption.pub",
    }


def load_submission_keys(paths: dict[str, Path]) -> SubmissionKeys:
    return SubmissionKeys(
        keyfiles.load_signing_private_key(paths["signing"]),
        keyfiles.load_symmetric_key(paths["system"], keyfiles.SYSTEM_KEY),
        keyfiles.load_encryption_public_key(paths["hub"]),
    )


@dataclass
class Outcome:
    """What `check` or `prepare` found and did; `receipt` is what the analyst keeps."""

    ok: bool
    receipt: dict
    report: ValidationReport | None = None
    findings: list[Finding] = field(default_factory=list)
    package_path: Path | None = None
    receipt_path: Path | None = None


class _Progress:
    def __init__(self, say: Callable[[str], None] | None):
        self.say = say or (lambda _m: None)
        self.t0 = time.monotonic()
        self.last = self.t0
        self.stages: dict[str, float] = {}

    def note(self, stage: str, detail: str) -> None:
        """How far a long stage has got, while it runs."""
        self.say(f"  {stage:<13} {time.monotonic() - self.last:6.2f}s  {detail} ...")

    def done(self, stage: str, detail: str = "") -> None:
        now = time.monotonic()
        self.stages[stage] = round(now - self.last, 3)
        self.say(f"  {stage:<13} {now - self.last:6.2f}s  {detail}")
        self.last = now


def _today() -> dt.date:
    return dt.date.today()


def run_submission(
    input_path: Path,
    *,
    org: str,
    extract: str,
    period: str,
    profile: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    governance: Governance | Path | None = None,
    standard: Standard | None = None,
    keys: SubmissionKeys | None = None,
    key_paths_: dict[str, Path] | None = None,
    out_dir: Path | None = None,
    package: bool = True,
    progress: Callable[[str], None] | None = None,
    max_rows_per_rule: int = DEFAULT_MAX_ROWS_PER_RULE,
    today: dt.date | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Outcome:
    """Check (package=False) or prepare (package=True) one extract file.

    `con`: a DuckDB connection to reuse across many files (code lists are loaded into it once);
    by default a private one is opened and closed."""
    prog = _Progress(progress)
    input_path = Path(input_path)
    std = standard or load_standard()
    today = today or _today()
    receipt: dict = {
        "receipt": "owf submit prepare" if package else "owf submit check",
        "tool_version": __version__,
        "standard_version": std.version,
        "input_file": input_path.name,
        "org_code": org,
        "extract": extract,
        "period": period,
        "status": "refused",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    findings: list[Finding] = []

    def refuse(rule: str, message: str, **kw) -> Outcome:
        findings.append(
            Finding(
                "error",
                rule,
                message,
                file=kw.get("file", input_path.name),
                row=kw.get("row"),
                field=kw.get("field"),
            )
        )
        return _finish(receipt, findings, None, prog, out_dir if package else None)

    # -- governance, keys and the output folder, before any data is read ----------------
    period_bounds(period)  # raises a clear OwfError for a malformed period
    require_ods_code(org)  # before it names a receipt file: "../x" must not leave --out
    ext: Extract = std.extract(extract)
    gov = (
        governance
        if isinstance(governance, Governance)
        else load_governance(governance, standard=std)
    )
    try:
        gov.organisation(org)
        agreement = gov.resolve_agreement(org, extract, period, today)
    except Refusal as exc:
        if package:
            return refuse(exc.reason, str(exc), file=None)
        findings.append(Finding("error", exc.reason, str(exc)))
        agreement = None
    receipt["agreement_id"] = agreement.id if agreement else None
    if package:
        if keys is None:
            keys = load_submission_keys(key_paths_ or key_paths(None, org, None, None, None))
        if agreement is not None:
            # The hub opens a package only with a key the registry holds for the
            # organisation, valid on the day: refuse here what it would refuse there
            # (another organisation's key, an expired one), before any data is read.
            try:
                registry_key_resolver(gov)(
                    org, key_fingerprint(keys.signing_key.public_key()), today
                )
            except Refusal as exc:
                if exc.reason == "unknown_signing_key":
                    registered = ", ".join(k.key_id for k in gov.organisation(org).signing_keys)
                    exc = Refusal(
                        exc.reason,
                        f"the signing key is not one registered for {org} in the registry"
                        f" ({registered or 'none registered'}), so the hub would refuse the"
                        f" package. Sign with {org}'s own key (--keys or --signing-key), or"
                        " register this one (`owf keys register`).",
                    )
                return refuse(exc.reason, f"{exc} Nothing was packaged.", file=None)
            # The same for the system key: one the registry does not know would make
            # people the hub can never link with other organisations'.
            try:
                gov.check_system_key(
                    keys.system_key.epoch, system_key_check(keys.system_key.key), at_source=True
                )
            except Refusal as exc:
                return refuse(exc.reason, str(exc), file=None)
        out_dir = Path(out_dir or Path.cwd())
        _check_writable(out_dir)
    prog.done("governance", f"agreement {agreement.id if agreement else '(none)'}")

    own_connection = con is None
    con = con or duckdb.connect()
    try:
        # -- read and map -------------------------------------------------------------
        prof = load_profile(profile, ext, std, governance=gov.directory)
        receipt["profile"] = prof.name
        # A CSV's body is read by the mapping statement itself (one pass, see
        # pipelines.standard.reader.select_into): "read" settles the encoding and header,
        # "map" reads and maps the rows.
        src = load_source(
            con,
            input_path,
            delimiter=delimiter or prof.delimiter or ",",
            sheet=sheet,
            defer=True,
            progress=lambda m: prog.note("read", m),
            header_names=header_names(prof, ext),
        )
        findings += src.findings
        # Absent when the rows were never read (a file without its headings is refused
        # first): "rows read 0" said the file was empty (found in review).
        if src.scan_sql is None and (src.ok or src.rows):
            receipt["rows_read"] = src.rows
        if not src.ok:
            return _finish(receipt, findings, None, prog, out_dir if package else None)
        prog.done("read", f"{len(src.header)} columns ({src.encoding})")
        mapping = apply_profile(con, src, prof, ext, std)
        findings += mapping.findings
        receipt["source_columns_not_sent"] = mapping.dropped_source_columns
        if src.scan_sql is None:
            receipt["rows_read"] = src.rows
        if not mapping.ok:
            return _finish(receipt, findings, None, prog, out_dir if package else None)
        if src.rows == 0:
            from pipelines.standard.validator import empty_extract_finding

            findings.append(empty_extract_finding(ext, src.display))
            if not ext.may_be_empty:
                return _finish(receipt, findings, None, prog, out_dir if package else None)
        prog.done("map", f"{src.rows:,} rows, profile {prof.name}: {len(mapping.fields)} fields")

        # -- validate, and pseudonymise alongside -------------------------------------
        # Hashing is Python, holding the GIL; validation is DuckDB, which releases it. So the
        # identifiers are hashed on a second thread while the rules run (about 0.1 s less
        # for 100,000 rows), and the pseudonyms are used only if validation passes. A check
        # pseudonymises under a throwaway key: same work, nothing reusable.
        system_key = keys.system_key.key if keys else secrets.token_bytes(32)
        id_fields = _identifier_fields(ext, mapping.fields)
        # No ORDER BY here or below: DuckDB keeps the mapped table's order (see
        # select_into), and `__row` comes along to prove the pseudonyms meet their rows.
        identifiers = con.sql(
            f"SELECT {', '.join(['__row', *(qi(n) for n in id_fields)])}"  # noqa: S608
            f" FROM {MAPPED_TABLE}"  # standard names
        ).to_arrow_table()
        identifier_rows = identifiers.column("__row")
        identifiers = identifiers.drop_columns(["__row"])
        report = ValidationReport(
            str(input_path), extract, SOURCE, std.version, rows=src.rows, encoding=src.encoding
        )
        with ThreadPoolExecutor(1, thread_name_prefix="owf-pseudonymise") as pool:
            hashing = pool.submit(_pseudonyms, identifiers, ext, org, system_key)
            vfind, totals = validate_relation(
                con,
                MAPPED_TABLE,
                ext,
                form=SOURCE,
                display=src.display,
                std=std,
                expected_org=org,
                expected_period=period,
                max_rows_per_rule=max_rows_per_rule,
            )
            pseudonyms = hashing.result()
        vfind = mapping.locate(vfind)
        report.findings = [f for f in findings if f.file == src.display] + vfind
        report.totals = totals
        findings += vfind
        receipt["validation"] = {
            "errors": report.error_count,
            "totals": [t.__dict__ for t in totals],
        }
        prog.done("validate", counted(report.error_count, "error"))
        if any(f.severity == "error" for f in findings):
            return _finish(receipt, findings, report, prog, out_dir if package else None)

        # -- minimise -----------------------------------------------------------------
        present = set(mapping.fields)
        derived: dict[str, str] = {}
        params: dict = {}
        if "date_of_birth" in present:
            derived["age_band"], params = _age_band_sql(std, period, "age_band" in present)
            present.add("age_band")
        permitted = (
            set(agreement.permitted_fields(extract))
            if agreement
            else set(ext.field_names(SUBMITTED))
        )
        outgoing = [
            f for f in ext.fields_in(SUBMITTED) if f.name in present and f.name in permitted
        ]
        dropped = []
        for name in mapping.fields:
            f = ext.field(name)
            if not f.in_form(SUBMITTED):
                dropped.append(
                    {"field": name, "reason": f"source only: turned into {f.derives}, never sent"}
                )
            elif name not in permitted:
                dropped.append(
                    {"field": name, "reason": f"not permitted by agreement {agreement.id}"}
                )
        receipt["fields_sent"] = [f.name for f in outgoing]
        receipt["fields_dropped"] = dropped
        prog.done("minimise", f"{len(outgoing)} fields kept, {len(dropped)} dropped")

        # -- pseudonymise: the outgoing table, identifiers replaced by their pseudonyms ----
        # Identifier columns never leave DuckDB as raw values here: their pseudonyms (made
        # above) are put in their places.
        select = "".join(
            f", CAST({derived.get(f.name, qi(f.name))} AS {payload_sql_type(f.type)})"
            f" AS {qi(f.name)}"
            for f in outgoing
            if f.name not in pseudonyms
        )
        # __row (the spreadsheet row) rides along for the scan's findings; never packaged.
        # In record batches, so that the scan below reads it on every core.
        table = con.sql(
            f"SELECT __row{select} FROM {MAPPED_TABLE}",  # noqa: S608
            params=params,
        ).to_arrow_table(ARROW_BATCH_ROWS)
        if not table.column("__row").equals(identifier_rows):
            raise RuntimeError("the pseudonyms are not in the rows' order; nothing was packaged")
        for position, f in enumerate(outgoing, start=1):
            if f.name in pseudonyms:
                table = table.add_column(position, f.name, pseudonyms[f.name])
        prog.done("pseudonymise", f"{table.num_rows:,} rows")

        # -- scan ---------------------------------------------------------------------
        # The scan reads the Arrow table in place: exactly the values that would be sent.
        # Meanwhile a second thread serialises the payload (Arrow's Parquet writer, like
        # DuckDB, releases the GIL): in memory only, and thrown away if the scan finds
        # anything.
        payload_table = table.drop_columns(["__row"])
        con.register("owf_outgoing", table)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="owf-payload") as pool:
                serialising = (
                    pool.submit(payload_bytes, payload_table)
                    if package and agreement is not None
                    else None
                )
                pii, pii_totals = scan_for_identifiers(
                    con,
                    "owf_outgoing",
                    {f.name: f.type for f in outgoing},
                    display=src.display,
                    max_rows_per_rule=max_rows_per_rule,
                )
                payload = serialising.result() if serialising and not pii else None
        finally:
            con.unregister("owf_outgoing")
        table = payload_table
        findings += pii
        receipt["identifier_scan"] = {"findings": sum(t.count for t in pii_totals)}
        prog.done(
            "scan", f"{len(outgoing)} columns, {sum(t.count for t in pii_totals)} identifiers found"
        )
        if pii or not package or agreement is None:
            if not package and not any(f.severity == "error" for f in findings):
                receipt["status"] = "ready"
            return _finish(receipt, findings, report, prog, None if not package else out_dir)

        # -- package ------------------------------------------------------------------
        package_id = uuid.uuid4().hex
        manifest = {
            "package_id": package_id,
            "org_code": org,
            "extract": extract,
            "period": period,
            "standard_version": std.version,
            "key_epoch": keys.system_key.epoch,
            "system_key_check": system_key_check(keys.system_key.key),
            "tool_version": __version__,
            "created_at": receipt["created_at"],
            "profile": prof.name,
            "agreement_id": agreement.id,
        }
        data, manifest = seal_package(
            table, manifest, keys.signing_key, keys.hub_public_key, payload=payload
        )
        name = f"{org}_{extract}_{period}_{package_id[:12]}{SUFFIX}"
        package_path = write_whole(out_dir / name, data)
        import hashlib

        receipt.update(
            status="packaged",
            package_id=package_id,
            package_file=name,
            package_sha256=hashlib.sha256(data).hexdigest(),
            package_bytes=len(data),
            rows_sent=table.num_rows,
            payload_sha256=manifest["payload_sha256"],
            key_epoch=manifest["key_epoch"],
            signing_key_fingerprint=manifest["signing_key_fingerprint"],
            hub_key_fingerprint=manifest["hub_key_fingerprint"],
        )
        prog.done("package", f"{len(data):,} bytes -> {package_path}")
        outcome = _finish(receipt, findings, report, prog, out_dir)
        outcome.package_path = package_path
        return outcome
    finally:
        if own_connection:
            con.close()


def _age_band_sql(std: Standard, period: str, given: bool) -> tuple[str, dict]:
    """SQL for the age band at the end of the period, from date of birth; the band given only
    where the date gives none (empty or out of every band). A band given that the date
    contradicts is a validation warning (`age_band_contradicts_date_of_birth`).

    The standard's bands become one list indexed by age in whole years (a lookup, not a join
    or an UPDATE): ages outside every band, such as a birth date after the census, give NULL.
    Returns the expression and its named parameters.
    """
    _, census = period_bounds(period)
    by_age: list[str | None] = []
    for r in std.codelists["age_band"].rows:
        lo, hi = int(r["min_age"]), int(r["max_age"])
        by_age.extend([None] * (lo - len(by_age)))
        by_age[lo : hi + 1] = [r["code"]] * (hi - lo + 1)
    age = "date_part('year', age($census::DATE, TRY_CAST(date_of_birth AS DATE)))"
    band = (
        f"CASE WHEN {age} BETWEEN 0 AND {len(by_age) - 1}"
        f" THEN list_extract($age_bands, {age} + 1) END"
    )
    sql = f"coalesce({band}, age_band)" if given else band
    return sql, {"census": census.isoformat(), "age_bands": by_age}


def _identifier_fields(ext: Extract, present: list[str]) -> list[str]:
    return [f.name for f in ext.fields if f.type == "identifier" and f.name in present]


def _pseudonyms(table: pa.Table, ext: Extract, org: str, system_key: bytes) -> dict[str, pa.Array]:
    """Each identifier column of `table` as its pseudonyms, in the same row order.

    NI numbers (stage 1) under the system key; other identifiers (assignment numbers) under
    the organisation's own key."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if ext.field(name).identifier == "ni_number":
            out[name] = person_pseudonym_column(system_key, col)
        else:
            out[name] = pseudonymise_column(assignment_key(system_key, org), col)
    return out


def _check_writable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OwfError(
            f"--out {out_dir} is a file, not a folder: the package and its receipt are written"
            " into a folder. Choose a folder (it is made if it does not exist)."
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".owf-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OwfError(
            f"cannot write to the output folder {out_dir} ({exc.strerror or exc}); choose a"
            " folder you can write to with --out"
        ) from None


def _finish(
    receipt: dict, findings: list[Finding], report, prog: _Progress, out_dir: Path | None
) -> Outcome:
    errors = [f for f in findings if f.severity == "error"]
    if errors and receipt.get("status") != "packaged":
        receipt["status"] = "refused"
    receipt["errors"] = len(errors)
    receipt["warnings"] = sum(f.severity == "warning" for f in findings)
    receipt["findings"] = [f.to_dict() for f in findings[: DEFAULT_MAX_ROWS_PER_RULE * 5]]
    receipt["stage_seconds"] = prog.stages
    receipt["seconds"] = round(time.monotonic() - prog.t0, 3)
    outcome = Outcome(ok=not errors, receipt=receipt, report=report, findings=findings)
    if out_dir is not None:
        # A refusal's receipt is named by its time and a random suffix, so a second refusal
        # of the same extract (after a fix that did not fix everything) keeps the first.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        base = receipt.get("package_file") or (
            f"{receipt['org_code']}_{receipt['extract']}_{receipt['period']}_refused"
            f"_{stamp}_{secrets.token_hex(3)}"
        )
        path = Path(out_dir) / (base.removesuffix(SUFFIX) + ".receipt.json")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(receipt, indent=2, default=str) + "\n"
            write_whole(path, text.encode("utf-8"))
            outcome.receipt_path = path
        except OSError as exc:
            print(
                f"warning: could not write the receipt to {path}: {exc.strerror}", file=sys.stderr
            )
    return outcome


def render_receipt(outcome: Outcome, max_rows: int = 10) -> str:
    r = outcome.receipt
    lines = [
        f"{r['receipt']}: {r['input_file']} - {r['org_code']} {r['extract']} {r['period']}:"
        f" {r['status'].upper()}",
    ]
    if r.get("agreement_id"):
        lines.append(
            f"  agreement {r['agreement_id']}; profile {r.get('profile', '-')}; standard v{r['standard_version']}"
        )
    if "rows_read" in r:
        lines.append(
            f"  rows read {r['rows_read']:,}"
            + (f", rows sent {r['rows_sent']:,}" if "rows_sent" in r else "")
        )
    if r.get("fields_sent"):
        lines.append(f"  fields sent ({len(r['fields_sent'])}): {', '.join(r['fields_sent'])}")
    for d in r.get("fields_dropped", []):
        lines.append(f"  dropped {d['field']}: {d['reason']}")
    if r.get("source_columns_not_sent"):
        lines.append(f"  source columns not sent: {', '.join(r['source_columns_not_sent'])}")
    if outcome.report is not None and not outcome.report.ok:
        lines.append("  " + outcome.report.render(max_rows=max_rows).replace("\n", "\n  "))
    shown = (
        {id(f) for f in (outcome.report.findings if outcome.report else [])}
        if outcome.report and not outcome.report.ok
        else set()
    )
    others = [f for f in outcome.findings if id(f) not in shown]
    by_rule: dict[tuple, list[Finding]] = {}
    for f in others:
        by_rule.setdefault((f.severity, f.rule, f.field), []).append(f)
    for items in by_rule.values():
        lines.append("  " + items[0].render())
        for f in items[1:max_rows]:
            lines.append(f"      row {f.row}" + (f": found {f.found}" if f.found else ""))
        if len(items) > max_rows:
            lines.append(f"      ... and {len(items) - max_rows} more")
    if r.get("package_file"):
        lines.append(
            f"  package {r['package_file']} ({r['package_bytes']:,} bytes), id {r['package_id']}"
        )
        lines.append(f"  package sha256 {r['package_sha256']}")
    if outcome.receipt_path:
        lines.append(f"  receipt {outcome.receipt_path}")
    lines.append(f"  took {r['seconds']:.2f}s")
    return "\n".join(lines)


REGISTRY_LOCK = ".organisations.yaml.lock"


def _one_registry_edit_at_a_time(edit: Callable) -> Callable:
    """`edit(governance_dir, ...)` holding REGISTRY_LOCK in the governance folder from
    reading organisations.yaml to writing it back. Found in review: two `owf keys register`
    commands at once each read the registry, added their key and wrote it back, and the
    second write lost the first's key (both said "registered"), whose packages were then
    refused as signed by no registered key."""

    @functools.wraps(edit)
    def locked(governance_dir: Path, *args, **kwargs):
        with exclusive(governance_dir, REGISTRY_LOCK):
            return edit(governance_dir, *args, **kwargs)

    return locked


def _read_registry(path: Path, text: str) -> dict:
    """organisations.yaml's data, or an error saying to check it (found in review: an
    unquoted impossible date there gave the register commands a ValueError trace)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise OwfError(
            f"{path} cannot be read ({str(exc).splitlines()[0]}): run `owf governance check"
            f" --governance {path.parent}`, which names the row, and correct it. Nothing was"
            " written."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("organisations"), list):
        raise OwfError(
            f"{path} is not an organisation registry (no organisations list): run `owf"
            f" governance check --governance {path.parent}`. Nothing was written."
        )
    return data


@_one_registry_edit_at_a_time
def register_system_key(
    governance_dir: Path,
    epoch: int,
    check: str,
    verify: Callable[[Path, str], None] | None = None,
) -> bool:
    """Add the system pseudonymisation key's check value for `epoch` to organisations.yaml
    (system: system_keys), atomically; False if exactly that is registered already. Refused
    (OwfError) if the epoch is registered with another key's check: the organisations hold
    one key per epoch, and replacing its check would refuse every package made with it."""
    import yaml

    path = Path(governance_dir) / "organisations.yaml"
    text = path.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = _read_registry(path, text)
    registered = data.setdefault("system", {}).setdefault("system_keys", [])
    for k in registered:
        if k.get("epoch") == epoch:
            if k.get("check") == check:
                return False
            raise OwfError(
                f"{path} already registers another system key for epoch {epoch} (check"
                f" {k.get('check')}, this key's is {check}): nothing was written. The"
                " organisations hold the registered one; give a new key its own epoch"
                " (`owf keys generate system --epoch N`)."
            )
    registered.append({"epoch": epoch, "check": check})
    text = header + yaml.safe_dump(data, sort_keys=False, width=100)
    if verify is not None:
        verify(path, text)
    write_whole(path, text.encode("utf-8"))
    return True


@_one_registry_edit_at_a_time
def register_signing_key(
    governance_dir: Path,
    org: str,
    public_key_b64: str,
    key_id: str,
    valid_from: dt.date,
    valid_to: dt.date,
    verify: Callable[[Path, str], None] | None = None,
) -> Path:
    """Add a public signing key to organisations.yaml (the hub's registry), atomically.
    Refused (OwfError) for an organisation not in the registry, a key id it already uses, or
    a public key already registered (to it or to another organisation, which its private key
    could then sign as). `verify(path, new_text)` may refuse the registry with the key added
    (by raising) before anything is written."""
    import base64

    import yaml

    path = Path(governance_dir) / "organisations.yaml"
    text = path.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = _read_registry(path, text)
    new_key = base64.b64decode(public_key_b64)
    for o in data["organisations"]:
        for k in o.get("signing_keys") or []:
            try:
                same = base64.b64decode(str(k.get("public_key", ""))) == new_key
            except ValueError:
                same = False
            if same and o["ods_code"] == org:
                raise OwfError(
                    f"this public key is already registered in {path} as {org}'s key"
                    f" {k.get('key_id')!r} (valid {k.get('valid_from')} to {k.get('valid_to')}):"
                    " nothing was written. To keep it longer, change its valid_to there."
                )
            if same:
                raise OwfError(
                    f"this public key is already registered in {path}, as {o['ods_code']}'s key"
                    f" {k.get('key_id')!r}: a key belongs to one organisation, or its holder"
                    f" could sign as both. Register the public key that {org} generated for"
                    f" itself (`owf keys generate signing --org {org}`, then its .pub file)."
                )
    for o in data["organisations"]:
        if o["ods_code"] == org:
            if any(k["key_id"] == key_id for k in o["signing_keys"]):
                raise OwfError(
                    f"{org} already has a signing key {key_id!r}; choose another --key-id"
                )
            o["signing_keys"].append(
                {
                    "key_id": key_id,
                    "algorithm": "ed25519",
                    "public_key": public_key_b64,
                    "valid_from": valid_from.isoformat(),
                    "valid_to": valid_to.isoformat(),
                }
            )
            break
    else:
        raise OwfError(f"organisation {org!r} is not in {path}; add it to the registry first")
    text = header + yaml.safe_dump(data, sort_keys=False, width=100)
    if verify is not None:
        verify(path, text)
    write_whole(path, text.encode("utf-8"))
    return path
