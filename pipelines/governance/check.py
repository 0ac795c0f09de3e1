"""`owf governance check`: consistency of organisations, agreements and the standard.

Errors (the hub refuses to load governance data with any of them):
- an agreement names an organisation that is not in the registry, or omits the hub operator;
- an agreement permits an extract or field that is not in the standard (submitted form), or
  a field the standard never lets leave an organisation (date of birth);
- an agreement leaves out a field the standard requires (no submission could comply);
- special-category fields without an Article 9 condition and its DPA 2018 Schedule 1 basis;
- two agreements in force (active or suspended) for the same flow (organisation and extract)
  with overlapping dates;
- duplicate ODS codes, agreement ids or key ids; end dates before start dates; a public key
  that is not an Ed25519 key, or registered twice (for one organisation or two: its holder
  could sign as either); an organisation's sector that contradicts its kind.
- an output_access naming an output the hub does not publish, or an audience within a typo
  of the one it publishes for (either would silently leave the organisation's rows out);
- a key written twice in one block of a file (YAML keeps the last; see yamlfile.py).
Warnings: a passed review date, an active agreement past its end date, an organisation with
no signing key valid today, a disclosure policy weaker than the default.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipelines.errors import Finding
from pipelines.governance.model import IN_FORCE_STATUSES, _Loaded, display_path
from pipelines.standard.model import SUBMITTED, Standard, load_standard

# The outputs the hub publishes (each published dbt model's meta.output; a unit test keeps
# the two the same) and the audience it publishes them for: an agreement's output_access
# naming anything else grants nothing, so a typo silently withholds an organisation's rows.
PUBLISHED_OUTPUTS = frozenset(
    {
        "age_profile",
        "data_quality",
        "equality",
        "flows",
        "sickness_absence",
        "stability",
        "temporary_staffing",
        "turnover",
        "vacancies",
        "workforce_in_post",
    }
)
PUBLICATION_AUDIENCE = "ICS workforce planners"

SECTOR_OF_KIND = {
    "acute_trust": "NHS_TRUST",
    "mental_health_trust": "NHS_TRUST",
    "community_trust": "NHS_TRUST",
    "ambulance_trust": "NHS_TRUST",
    "integrated_care_board": "NHS_TRUST",
    "gp_practice": "PRIMARY_CARE",
    "primary_care_network": "PRIMARY_CARE",
    "local_authority": "SOCIAL_CARE",
    "social_care_provider": "SOCIAL_CARE",
    "hospice": "INDEPENDENT_VOLUNTARY",
    "voluntary_organisation": "INDEPENDENT_VOLUNTARY",
}


def check_governance(
    loaded: _Loaded, standard: Standard | None = None, today: dt.date | None = None
) -> list[Finding]:
    gov = loaded.governance
    if gov is None:
        return []
    std = standard or load_standard()
    today = today or dt.date.today()
    findings: list[Finding] = []
    org_doc = loaded.docs.get("organisations")

    def rel(path) -> str:
        return display_path(path)

    org_file = rel(gov.directory / "organisations.yaml")

    def err(rule, message, file, row=None, field=None, severity="error"):
        findings.append(Finding(severity, rule, message, file, row, field))

    if org_doc is None:
        # Missing, not YAML, or not of the schema's shape (reported already): every check
        # below would compare agreements with an empty registry and report each party as
        # unknown, burying the one real error.
        err(
            "checks_skipped",
            "organisations.yaml has errors (above), so the checks that"
            " need the registry (parties, the hub operator, keys, overlapping agreements,"
            " fields) were not run: fix it and run `owf governance check` again.",
            org_file,
            severity="warning",
        )
        return findings

    # Organisations
    if org_doc is not None:
        seen: dict[str, int] = {}
        # A public key belongs to one organisation: registered for another too, the holder
        # of its private key could sign packages as that organisation.
        holders: dict[bytes, str] = {}
        for i, o in enumerate(org_doc.data["organisations"]):
            code = o["ods_code"]
            line = org_doc.line(["organisations", i, "ods_code"])
            if code in seen:
                err(
                    "duplicate_organisation",
                    f"ODS code {code} is registered twice (first at row {seen[code]}); keep one entry.",
                    org_file,
                    line,
                    f"organisations[{i}].ods_code",
                )
            seen.setdefault(code, line)
            expected = SECTOR_OF_KIND[o["kind"]]
            if o["sector"] != expected:
                err(
                    "sector_kind_mismatch",
                    f"{code} is a {o['kind'].replace('_', ' ')}, whose sector is {expected},"
                    f" not {o['sector']}.",
                    org_file,
                    org_doc.line(["organisations", i, "sector"]),
                    f"organisations[{i}].sector",
                )
            key_ids: set[str] = set()
            current = False
            for j, k in enumerate(o["signing_keys"]):
                kpath = ["organisations", i, "signing_keys", j]
                if k["key_id"] in key_ids:
                    err(
                        "duplicate_key_id",
                        f"{code} has two signing keys with id {k['key_id']}.",
                        org_file,
                        org_doc.line(kpath + ["key_id"]),
                        f"organisations[{i}].signing_keys[{j}].key_id",
                    )
                key_ids.add(k["key_id"])
                try:
                    raw = base64.b64decode(k["public_key"], validate=True)
                    Ed25519PublicKey.from_public_bytes(raw)
                    this = f"{code}'s key {k['key_id']}"
                    first = holders.setdefault(raw, this)
                    if first != this:
                        both = (
                            "it is registered twice"
                            if first.startswith(f"{code}'s ")
                            else "whoever holds its private key could sign as either"
                        )
                        err(
                            "shared_public_key",
                            f"signing key {k['key_id']} of {code} is the same public key as"
                            f" {first}: {both}. Remove the entry registered by mistake; each"
                            " organisation registers a key of its own (`owf keys generate"
                            " signing`).",
                            org_file,
                            org_doc.line(kpath + ["public_key"]),
                            f"organisations[{i}].signing_keys[{j}].public_key",
                        )
                except (ValueError, binascii.Error):
                    err(
                        "invalid_public_key",
                        f"signing key {k['key_id']} of {code} is not a base64 Ed25519 public key;"
                        " export it again with `owf keys export-public`.",
                        org_file,
                        org_doc.line(kpath + ["public_key"]),
                        f"organisations[{i}].signing_keys[{j}].public_key",
                    )
                start, end = (
                    dt.date.fromisoformat(k["valid_from"]),
                    dt.date.fromisoformat(k["valid_to"]),
                )
                if end < start:
                    err(
                        "dates_inverted",
                        f"signing key {k['key_id']} of {code} is valid to {end}, before it is valid from {start}.",
                        org_file,
                        org_doc.line(kpath + ["valid_to"]),
                        f"organisations[{i}].signing_keys[{j}].valid_to",
                    )
                current = current or start <= today <= end
            if code != gov.hub_operator and not current:
                err(
                    "no_current_signing_key",
                    f"{code} has no signing key valid today ({today}); its packages will be"
                    " refused until one is registered with `owf keys register`.",
                    org_file,
                    line,
                    f"organisations[{i}].signing_keys",
                    severity="warning",
                )
        if gov.hub_operator not in gov.organisations:
            err(
                "hub_operator_unknown",
                f"the hub operator {gov.hub_operator} is not in the organisation list.",
                org_file,
                org_doc.line(["system", "hub_operator"]),
                "system.hub_operator",
            )

    # Agreements
    for a in gov.agreements.values():
        doc = loaded.docs.get(f"agreement:{a.path.name}")
        file = rel(a.path)

        def line(path, doc=doc):
            return doc.line(path) if doc else None

        if a.path.stem != a.id:
            err(
                "file_name",
                f"agreement {a.id} is in {a.path.name}; name the file {a.id}.yaml"
                " so the register is easy to read.",
                file,
                line(["id"]),
                "id",
                severity="warning",
            )
        for i, p in enumerate(a.parties):
            if p.ods_code not in gov.organisations:
                err(
                    "unknown_party",
                    f"party {p.ods_code} is not in organisations.yaml; register the organisation"
                    " or correct the code.",
                    file,
                    line(["parties", i, "ods_code"]),
                    f"parties[{i}].ods_code",
                )
        codes = a.party_codes()
        for c in sorted({c for c in codes if codes.count(c) > 1}):
            err(
                "duplicate_party",
                f"party {c} is listed more than once.",
                file,
                line(["parties"]),
                "parties",
            )
        if gov.hub_operator and gov.hub_operator not in codes:
            err(
                "hub_not_party",
                f"the hub operator {gov.hub_operator} is not a party, so nothing could be shared"
                " with the hub under this agreement.",
                file,
                line(["parties"]),
                "parties",
            )
        if a.end_date < a.start_date:
            err(
                "dates_inverted",
                f"end_date {a.end_date} is before start_date {a.start_date}.",
                file,
                line(["end_date"]),
                "end_date",
            )
        special = []
        for extract, fields in a.extracts.items():
            base = ["extracts", extract]
            if extract not in std.extracts:
                err(
                    "unknown_extract",
                    f"extract {extract!r} is not in the standard v{std.version}"
                    f" ({', '.join(std.extracts)}).",
                    file,
                    line(base),
                    f"extracts.{extract}",
                )
                continue
            ext = std.extracts[extract]
            names = {f.name: f for f in ext.fields}
            for j, name in enumerate(fields):
                fpath = base + ["fields", j]
                fdef = names.get(name)
                if fdef is None:
                    err(
                        "unknown_field",
                        f"field {name!r} is not a field of {extract} in the standard"
                        f" v{std.version}.",
                        file,
                        line(fpath),
                        f"extracts.{extract}.fields[{j}]",
                    )
                elif not fdef.in_form(SUBMITTED):
                    err(
                        "source_only_field",
                        f"field {name!r} never leaves an organisation (the standard turns it into"
                        f" {fdef.derives}); remove it from the agreement.",
                        file,
                        line(fpath),
                        f"extracts.{extract}.fields[{j}]",
                    )
                elif fdef.classification == "special_category":
                    special.append(f"{extract}.{name}")
            for fdef in ext.fields_in(SUBMITTED):
                if fdef.required and fdef.name not in fields:
                    err(
                        "required_field_not_permitted",
                        f"{extract} requires {fdef.name}, but the agreement does not permit it,"
                        " so no submission could comply; add it or drop the extract.",
                        file,
                        line(base + ["fields"]),
                        f"extracts.{extract}.fields",
                    )
        if special and not (
            a.lawful_basis.get("article_9") and a.lawful_basis.get("dpa_2018_schedule_1")
        ):
            err(
                "special_category_without_condition",
                f"special-category fields ({', '.join(special)}) need an Article 9 condition and"
                " its DPA 2018 Schedule 1 condition in lawful_basis.",
                file,
                line(["lawful_basis"]),
                "lawful_basis",
            )
        if a.review_date < today:
            err(
                "review_overdue",
                f"review date {a.review_date} has passed; review the agreement and record the"
                " next review date.",
                file,
                line(["review_date"]),
                "review_date",
                severity="warning",
            )
        if a.status == "active" and a.end_date < today:
            err(
                "ended_but_active",
                f"end date {a.end_date} has passed but the status is still active; set it to"
                " ended (submissions are refused either way).",
                file,
                line(["status"]),
                "status",
                severity="warning",
            )
        for i, access in enumerate(a.output_access):
            audience = access["audience"]
            close = difflib.get_close_matches(audience, [PUBLICATION_AUDIENCE], n=1, cutoff=0.8)
            if audience != PUBLICATION_AUDIENCE and close:
                err(
                    "unknown_audience",
                    f"audience {audience!r} is not the one the hub publishes for, though close"
                    f" to it: {PUBLICATION_AUDIENCE!r}. As written it gives that audience"
                    " nothing, so the organisations' rows would be left out of the"
                    " publication. Correct the spelling.",
                    file,
                    line(["output_access", i, "audience"]),
                    f"output_access[{i}].audience",
                )
            for j, output in enumerate(access["outputs"]):
                if output not in PUBLISHED_OUTPUTS:
                    near = difflib.get_close_matches(output, sorted(PUBLISHED_OUTPUTS), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    err(
                        "unknown_output",
                        f"output {output!r} is not one the hub publishes{hint}; the outputs are"
                        f" {', '.join(sorted(PUBLISHED_OUTPUTS))}.",
                        file,
                        line(["output_access", i, "outputs", j]),
                        f"output_access[{i}].outputs[{j}]",
                    )
        d = gov.disclosure_default
        if a.disclosure.suppress_max < d.suppress_max or a.disclosure.round_to < d.round_to:
            err(
                "weak_disclosure_control",
                f"disclosure control (suppress 1-{a.disclosure.suppress_max}, round to"
                f" {a.disclosure.round_to}) is weaker than the default (suppress"
                f" 1-{d.suppress_max}, round to {d.round_to}); the default still applies.",
                file,
                line(["disclosure_control"]),
                "disclosure_control",
                severity="warning",
            )

    # Overlapping agreements for the same flow (provider organisation, extract)
    in_force = [a for a in gov.agreements.values() if a.status in IN_FORCE_STATUSES]
    reported: set[tuple] = set()
    for i, a in enumerate(in_force):
        for b in in_force[i + 1 :]:
            if a.start_date > b.end_date or b.start_date > a.end_date:
                continue
            for org in sorted(set(a.party_codes()) & set(b.party_codes()) - {gov.hub_operator}):
                for extract in sorted(set(a.extracts) & set(b.extracts)):
                    key = (org, extract, a.id, b.id)
                    if key in reported:
                        continue
                    reported.add(key)
                    doc = loaded.docs.get(f"agreement:{b.path.name}")
                    err(
                        "overlapping_agreements",
                        f"{org}'s {extract} is covered by both {a.id} ({a.start_date}..{a.end_date})"
                        f" and {b.id} ({b.start_date}..{b.end_date}); a flow must fall under one"
                        " agreement at a time: end one, or make their dates meet without overlap.",
                        rel(b.path),
                        doc.line(["extracts", extract]) if doc else None,
                        f"extracts.{extract}",
                    )
    return findings


def run_check(directory=None, standard=None, today=None) -> tuple[list[Finding], dict]:
    """All findings (schema and consistency) plus a summary of what was loaded."""
    from pipelines.governance.model import inspect_governance

    loaded = inspect_governance(directory)
    findings = list(loaded.findings)
    findings += check_governance(loaded, standard=standard, today=today)
    gov = loaded.governance
    summary = {
        "organisations": len(gov.organisations) if gov else 0,
        "agreements": len(gov.agreements) if gov else 0,
        "agreement_files": loaded.agreement_files,
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
    }
    return findings, summary
