"""Organisations, information-sharing agreements and policies, loaded from governance/.

`inspect_governance` reads every file, validates each against its schema and returns what
it could load with every problem found (for `owf governance check`). `load_governance`
refuses to return a registry that has errors: the hub and the submission tool never act on
governance data that failed its own checks.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipelines.errors import Finding, OwfError
from pipelines.governance.yamlfile import YamlDoc, load_schema, read_yaml, schema_findings
from pipelines.paths import governance_dir

HUB_ROLES = ("controller",)
IN_FORCE_STATUSES = ("active", "suspended")  # statuses that claim a flow (for overlap checks)


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    algorithm: str
    public_key_b64: str
    valid_from: dt.date
    valid_to: dt.date

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key_b64))

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to


@dataclass(frozen=True)
class Organisation:
    ods_code: str
    name: str
    sector: str
    kind: str
    contact_team: str
    contact_email: str
    signing_keys: tuple[SigningKey, ...] = ()

    def key(self, key_id: str) -> SigningKey | None:
        for k in self.signing_keys:
            if k.key_id == key_id:
                return k
        return None


@dataclass(frozen=True)
class DisclosurePolicy:
    suppress_max: int
    round_to: int
    suppress_small_rates: bool = True
    secondary_suppression: bool = True


@dataclass(frozen=True)
class Party:
    ods_code: str
    role: str


@dataclass(frozen=True)
class Agreement:
    id: str
    title: str
    version: int
    status: str
    parties: tuple[Party, ...]
    purpose: str
    lawful_basis: dict
    extracts: dict[str, tuple[str, ...]]
    start_date: dt.date
    end_date: dt.date
    review_date: dt.date
    retention_months: int
    disclosure: DisclosurePolicy
    output_access: tuple[dict, ...]
    path: Path

    def party_codes(self) -> list[str]:
        return [p.ods_code for p in self.parties]

    def covers(self, extract: str) -> bool:
        return extract in self.extracts

    def permitted_fields(self, extract: str) -> tuple[str, ...]:
        return self.extracts.get(extract, ())

    def in_force_on(self, day: dt.date) -> bool:
        """DOMAIN.md: in force between its start and end dates, and only while active."""
        return self.status == "active" and self.start_date <= day <= self.end_date

    def period_in_range(self, period: str) -> bool:
        """A period is covered when its census date (the last day of the month) falls
        between the agreement's start and end dates."""
        _, census_date = period_bounds(period)
        return self.start_date <= census_date <= self.end_date


@dataclass
class Governance:
    directory: Path
    system_name: str
    hub_operator: str
    organisations: dict[str, Organisation]
    agreements: dict[str, Agreement]
    disclosure_default: DisclosurePolicy
    retention_default_months: int
    # Epoch -> check value of the system pseudonymisation key (pipelines.crypto.pseudonymise
    # .system_key_check); empty: none registered, so no package's key can be checked.
    system_key_checks: dict[int, str] = field(default_factory=dict)

    def organisation(self, ods_code: str) -> Organisation:
        try:
            return self.organisations[ods_code]
        except KeyError:
            raise Refusal(
                "unknown_organisation",
                f"organisation {ods_code!r} is not in the registry"
                f" ({self.directory / 'organisations.yaml'}); ask the hub to register it.",
            ) from None

    def check_system_key(self, epoch: int, check: str | None, *, at_source: bool = False) -> None:
        """Refusal("wrong_system_key") unless the system pseudonymisation key with this epoch
        and check value (pipelines.crypto.pseudonymise.system_key_check) is the registered
        one. A registry that lists no key checks nothing (a hub set up before the check).
        `at_source`: said to `owf submit prepare` about its key, before anything is made."""
        if not self.system_key_checks:
            return
        where = self.directory / "organisations.yaml"
        subject = "the system key given" if at_source else "the package's system key"
        what = (
            " Use the system-pseudonymisation.key the hub operator distributed (--keys or"
            " --system-key). Nothing was packaged."
            if at_source
            else " Prepare the package again with the system-pseudonymisation.key the hub"
            " operator distributed. Nothing from this package was used."
        )
        registered = self.system_key_checks.get(epoch)
        if registered is None:
            epochs = ", ".join(str(e) for e in sorted(self.system_key_checks))
            raise Refusal(
                "wrong_system_key",
                f"{subject} is of epoch {epoch}, which {where} does not register (it registers"
                f" epoch {epochs}): people pseudonymised under it could not be linked with"
                " other organisations'." + what,
            )
        if check is None:
            raise Refusal(
                "wrong_system_key",
                "the package does not say which system key pseudonymised it (an older"
                " `owf submit prepare` made it), so the hub cannot tell that its people can be"
                " linked with other organisations'. Update the submission tool." + what,
            )
        if check != registered:
            raise Refusal(
                "wrong_system_key",
                f"{subject} (epoch {epoch}, check {check}) is not the system's key of epoch"
                f" {epoch} (check {registered}, registered in {where}): people pseudonymised"
                " under it could never be linked with other organisations', nor with its own"
                " earlier months." + what,
            )

    def providers(self) -> list[Organisation]:
        """Organisations that submit data (everyone but the hub operator)."""
        return [o for c, o in self.organisations.items() if c != self.hub_operator]

    def agreements_for(self, ods_code: str, extract: str | None = None) -> list[Agreement]:
        return [
            a
            for a in self.agreements.values()
            if ods_code in a.party_codes() and (extract is None or a.covers(extract))
        ]

    def resolve_agreement(
        self,
        ods_code: str,
        extract: str,
        period: str,
        received_on: dt.date | None = None,
        arrived_on: dt.date | None = None,
    ) -> Agreement:
        """The agreement under which `ods_code` may share `extract` for `period`, received on
        `received_on`, or a Refusal saying precisely why not. The agreement must be active,
        cover the extract and the period's census date, and be in force on the day the
        submission is received (its start date to its end date). `arrived_on` is the day the
        package reached the hub, if earlier (the hub takes it up later, after an outage): the
        agreement must be in force from then to `received_on`, since the data was shared when
        it arrived."""
        received_on = received_on or dt.date.today()
        arrived_on = min(arrived_on or received_on, received_on)
        self.organisation(ods_code)
        if ods_code == self.hub_operator:
            # A party to every agreement as the one receiving the data, never as a provider
            # (providers(), and the overlap check, leave it out). Found in review: its own
            # package was accepted under whichever agreement came first, with that one's
            # disclosure control and retention.
            raise Refusal(
                "no_agreement",
                f"{ods_code} is the hub operator (organisations.yaml, system: hub_operator): it"
                " is party to the agreements as the organisation that receives the system's"
                " submissions, and no agreement lets it provide any. Nothing was accepted;"
                " contact the hub's information governance lead.",
            )
        begins = _first_day(period)
        if begins is not None and begins > received_on:
            # No agreement can cover data about a month that has not begun: a mistyped
            # period, or a clock set wrong.
            raise Refusal(
                "period_in_future",
                f"period {period} has not begun: it starts on {begins} and today is"
                f" {received_on}. Check the period (--period YYYY-MM, and the extract's period"
                " column) is the month the extract describes.",
            )
        if begins is not None and period_bounds(period)[1] >= arrived_on:
            # Every extract describes a whole month (staff in post on its last day, the
            # month's leavers, sickness, vacancies and temporary staffing): one made before
            # the month is over is incomplete, and the hub has no run for that month yet.
            ends = period_bounds(period)[1]
            raise Refusal(
                "period_not_ended",
                f"period {period} is the month under way on {arrived_on} (it ends on {ends}):"
                " a month's extract describes the whole month (staff in post on its last day;"
                " the month's leavers, sickness, vacancies and temporary staffing), so it cannot"
                f" be shared before the month is over. Export and prepare it from"
                f" {ends + dt.timedelta(days=1)}.",
            )
        candidates = self.agreements_for(ods_code, extract)
        if not candidates:
            others = self.agreements_for(ods_code)
            held = ""
            if others:
                verb = "does" if len(others) == 1 else "do"
                held = f" (it is party to {', '.join(a.id for a in others)}, which {verb} not cover {extract})"
            raise Refusal(
                "no_agreement",
                f"no information-sharing agreement lets {ods_code} share {extract}{held}."
                " Nothing was accepted; contact the hub's information governance lead.",
            )
        in_range = [a for a in candidates if a.period_in_range(period)]
        # A renewal takes over its predecessor's last month. A month can be shared only once
        # it is over, so the month whose census date is an agreement's end date arrives after
        # that agreement has ended, and a back-to-back renewal did not cover it either (its
        # census date is before the renewal's start): found in review, every agreement
        # ending on a month's last day lost its final month for good.
        in_range += [
            a for a in candidates if a not in in_range and _takes_over(a, candidates, period)
        ]
        if not in_range:
            spans = ", ".join(f"{a.id} {a.start_date}..{a.end_date}" for a in candidates)
            raise Refusal(
                "period_outside_agreement",
                f"period {period} is outside the dates of every agreement covering {ods_code}'s"
                f" {extract} ({spans}).",
            )
        for a in in_range:
            if a.status == "active" and a.start_date <= arrived_on and received_on <= a.end_date:
                return a
        a = in_range[0]
        if a.status == "suspended":
            raise Refusal(
                "agreement_suspended",
                f"agreement {a.id} is suspended: no {extract} is accepted under it until it is"
                " reinstated.",
            )
        if a.status == "draft":
            raise Refusal(
                "agreement_not_in_force",
                f"agreement {a.id} is still a draft and not in force.",
            )
        # Nothing arrives before the agreement is in force: a period is covered when its
        # last day is on or after the start date, and it arrives after its last day.
        if a.status == "ended" and received_on <= a.end_date:
            # Ended before its end date: the date has not come, the status says it is over.
            raise Refusal(
                "agreement_expired",
                f"agreement {a.id} has been ended (status ended) before its end date of"
                f" {a.end_date}; nothing is accepted under it. Ask the hub's information"
                " governance lead which agreement now covers this extract.",
            )
        raise Refusal(
            "agreement_expired",
            f"agreement {a.id} ended on {a.end_date} (status {a.status}); submissions received"
            f" on {received_on} are not accepted under it.",
        )


def _takes_over(renewal: Agreement, candidates: list[Agreement], period: str) -> bool:
    """Whether `renewal` covers `period` as its predecessor's last month: it starts after the
    period's census date and no later than the end of the next month, and another agreement
    for the same organisation and extract (active or ended: not a draft or a suspended one)
    covered the period and ended before the renewal started."""
    if _first_day(period) is None:
        return False
    _, census = period_bounds(period)
    next_month_end = period_bounds(f"{census + dt.timedelta(days=1):%Y-%m}")[1]
    if not census < renewal.start_date <= next_month_end:
        return False
    return any(
        b is not renewal
        and b.status in ("active", "ended")
        and b.period_in_range(period)
        and b.end_date < renewal.start_date
        for b in candidates
    )


def display_path(path: Path) -> str:
    """A governance file as a finding names it: from the working folder where it is under it
    (governance/agreements/X.yaml in the project), else in full. (It was named from the
    governance folder's parent, so a hub's hub/governance/... read as the project's own
    governance/... .)"""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


class Refusal(OwfError):
    """A governance reason to refuse a submission, with a stable reason code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of a period written YYYY-MM (exactly: "2026-9" and "2026-09 " are
    malformed, not taken for 2026-09, since the period is compared as text later)."""
    match = _PERIOD.fullmatch(period) if isinstance(period, str) else None
    if match is None:
        raise OwfError(f"malformed period {period!r}: write it as YYYY-MM (for example 2026-03)")
    year, month = int(match[1]), int(match[2])
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@dataclass
class _Loaded:
    governance: Governance | None
    findings: list[Finding] = field(default_factory=list)
    docs: dict[str, YamlDoc] = field(default_factory=dict)
    agreement_files: int = 0  # found under agreements/, loaded or not


def _policy_schema(directory: Path, name: str) -> dict:
    schema = load_schema(directory / "schemas" / "policies.schema.json")
    return {"$id": schema["$id"], "$defs": schema["$defs"], "$ref": f"#/$defs/{name}"}


def inspect_governance(directory: Path | str | None = None) -> _Loaded:
    directory = Path(directory) if directory is not None else governance_dir()
    result = _Loaded(None)
    schemas = directory / "schemas"
    if not schemas.is_dir():
        result.findings.append(
            Finding(
                "error",
                "missing_file",
                f"{directory} is not a governance folder: it has no schemas/ folder. Give the"
                " folder that holds organisations.yaml, agreements/, policies/ and schemas/"
                " (--governance), or restore it from the project's governance/ folder.",
                str(directory),
            )
        )
        return result

    def rel(p: Path) -> str:
        return display_path(p)

    # Organisations
    org_path = directory / "organisations.yaml"
    doc, f = read_yaml(org_path, rel(org_path))
    result.findings += f
    organisations: dict[str, Organisation] = {}
    system_name, hub = "", ""
    system_key_checks: dict[int, str] = {}
    if doc is not None:
        sf = schema_findings(doc, load_schema(schemas / "organisations.schema.json"), rel(org_path))
        result.findings += sf
        if not sf:  # the cross-checks read the registry only when it has the schema's shape
            result.docs["organisations"] = doc
            system_name = doc.data["system"]["name"]
            hub = doc.data["system"]["hub_operator"]
            for i, k in enumerate(doc.data["system"].get("system_keys") or []):
                if k["epoch"] in system_key_checks:
                    result.findings.append(
                        Finding(
                            "error",
                            "duplicate_system_key_epoch",
                            f"system key epoch {k['epoch']} is registered twice under system:"
                            " system_keys; keep the one `owf keys register-system` wrote for"
                            " the key the organisations hold.",
                            rel(org_path),
                            doc.line(["system", "system_keys", i]),
                            "system.system_keys",
                        )
                    )
                system_key_checks.setdefault(k["epoch"], k["check"])
            for o in doc.data["organisations"]:
                keys = tuple(
                    SigningKey(
                        k["key_id"],
                        k["algorithm"],
                        k["public_key"],
                        _date(k["valid_from"]),
                        _date(k["valid_to"]),
                    )
                    for k in o["signing_keys"]
                )
                org = Organisation(
                    o["ods_code"],
                    o["name"],
                    o["sector"],
                    o["kind"],
                    o["contact"]["team"],
                    o["contact"]["email"],
                    keys,
                )
                organisations.setdefault(org.ods_code, org)

    # Policies
    policies: dict[str, dict] = {}
    for name in ("disclosure_control", "retention"):
        path = directory / "policies" / f"{name}.yaml"
        pdoc, f = read_yaml(path, rel(path))
        result.findings += f
        if pdoc is not None:
            sf = schema_findings(pdoc, _policy_schema(directory, name), rel(path))
            result.findings += sf
            if not sf:
                policies[name] = pdoc.data
    disclosure_default = DisclosurePolicy(
        **policies.get(
            "disclosure_control",
            {
                "suppress_max": 7,
                "round_to": 5,
                "suppress_small_rates": True,
                "secondary_suppression": True,
            },
        )
    )
    retention_default = policies.get("retention", {}).get("default_months", 84)

    # Agreements
    agreements: dict[str, Agreement] = {}
    schema = load_schema(schemas / "agreement.schema.json")
    for path in sorted((directory / "agreements").glob("*.y*ml")):
        result.agreement_files += 1
        adoc, f = read_yaml(path, rel(path))
        result.findings += f
        if adoc is None:
            continue
        sf = schema_findings(adoc, schema, rel(path))
        result.findings += sf
        if sf:
            continue
        d = adoc.data
        dc = d["disclosure_control"]
        agreement = Agreement(
            id=d["id"],
            title=d["title"],
            version=d["version"],
            status=d["status"],
            parties=tuple(Party(p["ods_code"], p["role"]) for p in d["parties"]),
            purpose=d["purpose"],
            lawful_basis=d["lawful_basis"],
            extracts={k: tuple(v["fields"]) for k, v in d["extracts"].items()},
            start_date=_date(d["start_date"]),
            end_date=_date(d["end_date"]),
            review_date=_date(d["review_date"]),
            retention_months=d["retention"]["months"],
            disclosure=DisclosurePolicy(
                dc["suppress_max"],
                dc["round_to"],
                disclosure_default.suppress_small_rates,
                disclosure_default.secondary_suppression,
            ),
            output_access=tuple(d["output_access"]),
            path=path,
        )
        result.docs[f"agreement:{path.name}"] = adoc
        if agreement.id in agreements:
            result.findings.append(
                Finding(
                    "error",
                    "duplicate_agreement_id",
                    f"agreement id {agreement.id} is also used by"
                    f" {rel(agreements[agreement.id].path)}; give each agreement its own id.",
                    rel(path),
                    adoc.line(["id"]),
                    "id",
                )
            )
            continue
        agreements[agreement.id] = agreement

    result.governance = Governance(
        directory=directory,
        system_name=system_name,
        hub_operator=hub,
        organisations=organisations,
        agreements=agreements,
        disclosure_default=disclosure_default,
        retention_default_months=retention_default,
        system_key_checks=system_key_checks,
    )
    return result


def load_governance(directory: Path | str | None = None, standard=None) -> Governance:
    """Load governance data, refusing it if `owf governance check` would report an error."""
    from pipelines.governance.check import check_governance

    loaded = inspect_governance(directory)
    findings = list(loaded.findings)
    if loaded.governance is not None and not findings:
        findings += check_governance(loaded, standard=standard)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        listing = "\n".join(f"  {e.render()}" for e in errors[:20])
        raise OwfError(
            f"governance data in {loaded.governance.directory if loaded.governance else directory}"
            f" has {len(errors)} error(s); run `owf governance check` for the full list:\n{listing}"
        )
    return loaded.governance


def _first_day(period: str) -> dt.date | None:
    """The first day of a YYYY-MM period, or None if it is not one."""
    try:
        return dt.date(int(period[:4]), int(period[5:7]), 1) if len(period) == 7 else None
    except ValueError:
        return None
