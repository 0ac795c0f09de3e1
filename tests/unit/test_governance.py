"""Governance as data: the sample system is clean, and every error the check names is caught."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pipelines.errors import OwfError
from pipelines.governance import Refusal, inspect_governance, load_governance
from pipelines.governance.check import PUBLISHED_OUTPUTS, run_check
from pipelines.paths import PROJECT_ROOT

TODAY = dt.date(2026, 11, 24)


def _edit(path, mutate):
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _errors(directory, rule, today=TODAY):
    findings, _ = run_check(directory, today=today)
    return [f for f in findings if f.rule == rule]


def test_sample_governance_has_no_errors():
    findings, summary = run_check(today=TODAY)
    assert summary["organisations"] == 12 and summary["agreements"] == 4
    assert summary["errors"] == 0, [f.render() for f in findings if f.severity == "error"]


def test_sample_system_has_a_dozen_organisations_of_realistic_kinds():
    gov = load_governance()
    kinds = {o.kind for o in gov.organisations.values()}
    assert {
        "acute_trust",
        "mental_health_trust",
        "community_trust",
        "ambulance_trust",
        "gp_practice",
        "local_authority",
        "social_care_provider",
        "hospice",
    } <= kinds
    assert len(gov.providers()) == 11


def test_unknown_organisation_in_an_agreement(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-002.yaml",
        lambda d: d["parties"].append({"ods_code": "XYZ99", "role": "joint_controller"}),
    )
    [f] = _errors(governance_copy, "unknown_party")
    assert f.file.endswith("ISA-WV-002.yaml") and f.field == "parties[4].ods_code" and f.row


def test_permitted_field_not_in_the_standard(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-004.yaml",
        lambda d: d["extracts"]["vacancies"]["fields"].append("postcode"),
    )
    [f] = _errors(governance_copy, "unknown_field")
    assert "postcode" in f.message and f.field == "extracts.vacancies.fields[7]"


def test_unknown_extract(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-004.yaml",
        lambda d: d["extracts"].update({"payroll": {"fields": ["org_code"]}}),
    )
    assert _errors(governance_copy, "unknown_extract")


def test_source_only_field_cannot_be_permitted(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-004.yaml",
        lambda d: d["extracts"]["leavers"]["fields"].append("date_of_birth"),
    )
    [f] = _errors(governance_copy, "source_only_field")
    assert "age_band" in f.message


def test_required_field_left_out(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-004.yaml",
        lambda d: d["extracts"]["leavers"]["fields"].remove("leaving_reason"),
    )
    [f] = _errors(governance_copy, "required_field_not_permitted")
    assert "leaving_reason" in f.message


def test_overlapping_agreements_for_the_same_flow(governance_copy):
    text = (governance_copy / "agreements/ISA-WV-004.yaml").read_text()
    (governance_copy / "agreements/ISA-WV-009.yaml").write_text(
        text.replace("id: ISA-WV-004", "id: ISA-WV-009")
        .replace('start_date: "2024-04-01"', 'start_date: "2027-01-01"')
        .replace('end_date: "2028-03-31"', 'end_date: "2029-12-31"')
    )
    found = _errors(governance_copy, "overlapping_agreements")
    assert {f.field for f in found} == {
        "extracts.staff_in_post",
        "extracts.leavers",
        "extracts.vacancies",
    }
    assert all("HS101" in f.message for f in found)


def test_agreements_that_meet_without_overlap_are_fine(governance_copy):
    text = (governance_copy / "agreements/ISA-WV-004.yaml").read_text()
    (governance_copy / "agreements/ISA-WV-009.yaml").write_text(
        text.replace("id: ISA-WV-004", "id: ISA-WV-009")
        .replace('start_date: "2024-04-01"', 'start_date: "2028-04-01"')
        .replace('end_date: "2028-03-31"', 'end_date: "2030-03-31"')
    )
    assert not _errors(governance_copy, "overlapping_agreements")


def test_ended_agreement_does_not_overlap(governance_copy):
    text = (governance_copy / "agreements/ISA-WV-004.yaml").read_text()
    (governance_copy / "agreements/ISA-WV-000.yaml").write_text(
        text.replace("id: ISA-WV-004", "id: ISA-WV-000").replace("status: active", "status: ended")
    )
    assert not _errors(governance_copy, "overlapping_agreements")


def test_passed_review_date_is_a_warning(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-003.yaml", lambda d: d.update(review_date="2026-01-31")
    )
    [f] = _errors(governance_copy, "review_overdue")
    assert f.severity == "warning" and f.field == "review_date"
    findings, summary = run_check(governance_copy, today=TODAY)
    assert summary["errors"] == 0


def test_special_category_needs_article_9(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-003.yaml", lambda d: d["lawful_basis"].pop("article_9")
    )
    [f] = _errors(governance_copy, "special_category_without_condition")
    assert "ethnic_category" in f.message


def test_schema_error_names_file_line_and_field(governance_copy):
    path = governance_copy / "agreements/ISA-WV-002.yaml"
    path.write_text(path.read_text().replace("status: active", "status: live"))
    [f] = _errors(governance_copy, "schema")
    assert f.file.endswith("ISA-WV-002.yaml") and f.field == "status"
    assert f.row == 4 and "'live' is not one of" in f.message


def test_yaml_syntax_error_names_the_line(governance_copy):
    path = governance_copy / "organisations.yaml"
    path.write_text(path.read_text().replace("  - ods_code: RW2", "  - ods_code: [RW2"))
    [f] = _errors(governance_copy, "yaml_syntax")
    assert f.file.endswith("organisations.yaml") and f.row


def test_duplicate_organisation_and_sector_mismatch(governance_copy):
    def mutate(d):
        d["organisations"].append(dict(d["organisations"][1]))
        d["organisations"][2]["sector"] = "SOCIAL_CARE"

    _edit(governance_copy / "organisations.yaml", mutate)
    assert _errors(governance_copy, "duplicate_organisation")
    [f] = _errors(governance_copy, "sector_kind_mismatch")
    assert f.field == "organisations[2].sector"


def test_system_key_checks_are_read_and_checked(governance_copy):
    """organisations.yaml may register the system key's check value per epoch: read into
    Governance.system_key_checks; a malformed check or an epoch registered twice is an
    error naming the file and line; check_system_key refuses another key, an unregistered
    epoch and a package that does not say its key, and checks nothing when none is listed."""
    path = governance_copy / "organisations.yaml"
    gov = load_governance(governance_copy)
    assert gov.system_key_checks == {}
    gov.check_system_key(1, None)  # nothing registered: nothing to check against

    _edit(
        path, lambda d: d["system"].update(system_keys=[{"epoch": 1, "check": "0123456789abcdef"}])
    )
    gov = load_governance(governance_copy)
    assert gov.system_key_checks == {1: "0123456789abcdef"}
    gov.check_system_key(1, "0123456789abcdef")
    for epoch, check, says in [
        (1, "fedcba9876543210", "is not the system's key of epoch 1 (check 0123456789abcdef"),
        (2, "0123456789abcdef", "epoch 2, which"),
        (1, None, "does not say which system key"),
    ]:
        with pytest.raises(Refusal) as caught:
            gov.check_system_key(epoch, check)
        assert caught.value.reason == "wrong_system_key" and says in str(caught.value)
    with pytest.raises(Refusal) as caught:
        gov.check_system_key(1, "fedcba9876543210", at_source=True)
    assert "Nothing was packaged" in str(caught.value) and "--system-key" in str(caught.value)

    _edit(path, lambda d: d["system"].update(system_keys=[{"epoch": 1, "check": "ABC"}]))
    [bad] = [f for f in run_check(governance_copy, today=TODAY)[0] if f.severity == "error"]
    assert bad.file.endswith("organisations.yaml") and bad.row and "does not match" in bad.message
    _edit(
        path,
        lambda d: d["system"].update(
            system_keys=[
                {"epoch": 1, "check": "0123456789abcdef"},
                {"epoch": 1, "check": "fedcba9876543210"},
            ]
        ),
    )
    [dup] = _errors(governance_copy, "duplicate_system_key_epoch")
    assert dup.row and "registered twice" in dup.message


def test_the_hub_operator_provides_nothing_under_the_agreements():
    """Found in review: a package from the hub operator (QWV, party to every agreement as
    the receiving controller) was accepted under whichever agreement came first, though the
    registry treats it as no provider (providers(), the overlap check)."""
    gov = load_governance()
    assert gov.hub_operator == "QWV" and gov.agreements_for("QWV", "vacancies")
    with pytest.raises(Refusal) as caught:
        gov.resolve_agreement("QWV", "vacancies", "2026-10", TODAY)
    assert caught.value.reason == "no_agreement" and "is the hub operator" in str(caught.value)
    assert gov.resolve_agreement("RW1", "vacancies", "2026-10", TODAY).id  # providers still can


def _public_b64() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def test_signing_keys_are_checked(governance_copy):
    def mutate(d):
        d["organisations"][1]["signing_keys"] = [
            {
                "key_id": "k1",
                "algorithm": "ed25519",
                "public_key": _public_b64(),
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
            {
                "key_id": "k1",
                "algorithm": "ed25519",
                "public_key": _public_b64(),
                "valid_from": "2026-06-01",
                "valid_to": "2026-01-01",
            },
        ]

    _edit(governance_copy / "organisations.yaml", mutate)
    assert _errors(governance_copy, "duplicate_key_id")
    assert _errors(governance_copy, "dates_inverted")
    warned = {f.field for f in _errors(governance_copy, "no_current_signing_key")}
    assert "organisations[1].signing_keys" not in warned


def _copy_agreement_as(directory, new_name, mutate=None):
    src = directory / "agreements/ISA-WV-004.yaml"
    data = yaml.safe_load(src.read_text())
    if mutate:
        mutate(data)
    (directory / "agreements" / new_name).write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_renewal_takes_over_its_predecessor_s_last_month(governance_copy):
    """Found in review: HS101's agreement ends on 2026-10-31 and its renewal, on the same
    terms, starts on 2026-11-01. October can be shared only once it is over, after the old
    agreement ended, and its census date (31 October) is before the renewal's start: no
    agreement took it, and every agreement ending on a month's last day lost its final month.
    The renewal now takes it over; an agreement with no predecessor for the month, or one
    starting more than a month later, does not."""
    old = governance_copy / "agreements/ISA-WV-004.yaml"
    _edit(old, lambda d: d.update(end_date="2026-10-31"))
    received = dt.date(2026, 11, 5)
    with pytest.raises(Refusal) as caught:
        load_governance(governance_copy).resolve_agreement(
            "HS101", "vacancies", "2026-10", received
        )
    assert caught.value.reason == "agreement_expired"

    def renewal(start: str):
        return lambda d: d.update(id="ISA-WV-005", start_date=start, end_date="2028-10-31")

    _copy_agreement_as(governance_copy, "ISA-WV-005.yaml", renewal("2026-11-01"))
    gov = load_governance(governance_copy)
    assert gov.resolve_agreement("HS101", "vacancies", "2026-10", received).id == "ISA-WV-005"
    with pytest.raises(Refusal) as caught:  # September was the old agreement's to receive
        gov.resolve_agreement("HS101", "vacancies", "2026-09", received)
    assert caught.value.reason == "agreement_expired"
    assert (
        gov.resolve_agreement("HS101", "vacancies", "2026-11", dt.date(2026, 12, 2)).id
        == "ISA-WV-005"
    )

    # A renewal starting two months later: October stays uncovered.
    _copy_agreement_as(governance_copy, "ISA-WV-005.yaml", renewal("2027-01-01"))
    with pytest.raises(Refusal):
        load_governance(governance_copy).resolve_agreement(
            "HS101", "vacancies", "2026-10", dt.date(2027, 1, 5)
        )
    # No predecessor covered October (only the new agreement): nothing to take over.
    _copy_agreement_as(governance_copy, "ISA-WV-005.yaml", renewal("2026-11-01"))
    old.unlink()
    with pytest.raises(Refusal) as caught:
        load_governance(governance_copy).resolve_agreement(
            "HS101", "vacancies", "2026-10", received
        )
    assert caught.value.reason == "period_outside_agreement"


def _shared_key(d):
    """One public key registered for two organisations: either's key holder signs as both."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    for i, key_id in ((1, "k1"), (2, "k2")):
        d["organisations"][i]["signing_keys"] = [
            {
                "key_id": key_id,
                "algorithm": "ed25519",
                "public_key": base64.b64encode(raw).decode(),
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            }
        ]


def _bad_key(d):
    d["organisations"][1]["signing_keys"] = [
        {
            "key_id": "k1",
            "algorithm": "ed25519",
            "public_key": "bm90IGEga2V5",  # base64 of "not a key"
            "valid_from": "2026-01-01",
            "valid_to": "2027-12-31",
        }
    ]


@pytest.mark.parametrize(
    "rule,severity,file,mutate,field",
    [
        (
            "hub_not_party",
            "error",
            "agreements/ISA-WV-004.yaml",
            lambda d: d["parties"].__setitem__(0, {"ods_code": "RW1", "role": "controller"}),
            "parties",
        ),
        (
            "duplicate_party",
            "error",
            "agreements/ISA-WV-004.yaml",
            lambda d: d["parties"].append({"ods_code": "HS101", "role": "joint_controller"}),
            "parties",
        ),
        (
            "dates_inverted",
            "error",
            "agreements/ISA-WV-004.yaml",
            lambda d: d.update(start_date="2028-04-01"),
            None,
        ),
        (
            "ended_but_active",
            "warning",
            "agreements/ISA-WV-004.yaml",
            lambda d: d.update(start_date="2024-04-01", end_date="2026-03-31"),
            "status",
        ),
        (
            "weak_disclosure_control",
            "warning",
            "agreements/ISA-WV-004.yaml",
            lambda d: d.update(disclosure_control={"suppress_max": 3, "round_to": 5}),
            "disclosure_control",
        ),
        (
            "schema",
            "error",
            "organisations.yaml",
            _bad_key,
            "organisations.1.signing_keys.0.public_key",
        ),
        (
            "shared_public_key",
            "error",
            "organisations.yaml",
            _shared_key,
            "organisations[2].signing_keys[0].public_key",
        ),
        (
            "hub_operator_unknown",
            "error",
            "organisations.yaml",
            lambda d: d["system"].update(hub_operator="QZZ"),
            "system.hub_operator",
        ),
    ],
)
def test_each_governance_rule_is_caught_and_located(
    governance_copy, rule, severity, file, mutate, field
):
    _edit(governance_copy / file, mutate)
    findings, _ = run_check(governance_copy, today=TODAY)
    hits = [f for f in findings if f.rule == rule]
    assert hits, [f.render() for f in findings]
    assert all(h.severity == severity and h.file.endswith(file.split("/")[-1]) for h in hits)
    assert all(h.row for h in hits)  # the line in the file
    if field:
        assert field in {h.field for h in hits}


@pytest.mark.parametrize(
    "text,rule",
    [
        ("", "empty_file"),  # crashed: TypeError
        ("# only a comment\n", "empty_file"),
        ("- a list\n", "schema"),  # crashed: TypeError
        ("organisation: []\nsystem: {}\n", "schema"),  # crashed: KeyError
    ],
)
def test_a_registry_that_cannot_be_read_is_named_not_a_crash(governance_copy, text, rule):
    (governance_copy / "organisations.yaml").write_text(text)
    findings, _ = run_check(governance_copy, today=TODAY)
    errors = {f.rule for f in findings if f.severity == "error"}
    assert rule in errors and errors <= {"schema", "empty_file"}, errors
    assert "checks_skipped" in {f.rule for f in findings}


def test_one_wrong_value_in_the_registry_is_one_error_not_forty(governance_copy):
    """A contact e-mail written as a number made the registry unreadable, and every party of
    every agreement was then reported unknown, every agreement overlapping: forty errors
    for one."""
    _edit(
        governance_copy / "organisations.yaml",
        lambda d: d["organisations"][1]["contact"].update(email=12),
    )
    findings, _ = run_check(governance_copy, today=TODAY)
    errors = [f for f in findings if f.severity == "error"]
    assert [(f.rule, f.field) for f in errors] == [("schema", "organisations.1.contact.email")]
    [skipped] = [f for f in findings if f.rule == "checks_skipped"]
    assert "fix it and run `owf governance check` again" in skipped.message


def test_an_agreement_id_used_twice_and_a_file_named_otherwise(governance_copy):
    _copy_agreement_as(governance_copy, "ISA-WV-004-copy.yaml")
    findings, _ = run_check(governance_copy, today=TODAY)
    rules = {(f.rule, f.severity) for f in findings}
    assert ("duplicate_agreement_id", "error") in rules
    assert ("file_name", "warning") in rules


def test_governance_check_counts_agreement_files_not_only_those_loaded(governance_copy):
    from typer.testing import CliRunner

    from pipelines.cli import app

    args = ["governance", "check", "--governance", str(governance_copy), "--as-of", "2026-10-01"]
    fine = CliRunner().invoke(app, args)
    assert fine.exit_code == 0 and "12 organisations, 4 agreements, 0 errors" in fine.output
    _copy_agreement_as(governance_copy, "ISA-WV-004-copy.yaml")
    dup = CliRunner().invoke(app, args)
    assert dup.exit_code == 1, dup.output
    assert "4 agreements loaded of 5 files, 1 error" in dup.output, dup.output


def test_a_missing_governance_file_or_folder_is_named_with_what_to_do(governance_copy, tmp_path):
    (governance_copy / "policies/retention.yaml").unlink()
    [f] = _errors(governance_copy, "missing_file")
    assert f.file.endswith("policies/retention.yaml") and "Restore it" in f.message
    [f] = _errors(tmp_path / "elsewhere", "missing_file")
    assert "is not a governance folder" in f.message and "--governance" in f.message


def test_load_governance_refuses_data_with_errors(governance_copy):
    _edit(
        governance_copy / "agreements/ISA-WV-004.yaml",
        lambda d: d["extracts"]["vacancies"]["fields"].append("postcode"),
    )
    with pytest.raises(OwfError, match="unknown_field"):
        load_governance(governance_copy)
    assert inspect_governance(governance_copy).governance is not None


# Resolving the agreement for a submission -----------------------------------------------


def test_resolve_agreement_in_force():
    gov = load_governance()
    a = gov.resolve_agreement("RW1", "staff_in_post", "2026-09", TODAY)
    assert a.id == "ISA-WV-001" and "ethnic_category" in a.permitted_fields("staff_in_post")
    # The month just ended is covered from its next day.
    assert gov.resolve_agreement("RW1", "staff_in_post", "2026-10", TODAY).id == "ISA-WV-001"
    assert (
        gov.resolve_agreement("RW1", "staff_in_post", "2026-11", dt.date(2026, 12, 1)).id
        == "ISA-WV-001"
    )


@pytest.mark.parametrize("today", [dt.date(2026, 11, 1), TODAY, dt.date(2026, 11, 30)])
def test_the_month_under_way_is_refused_until_it_is_over(today):
    """Every extract describes a whole month (staff in post on its last day): one made
    before the month is over is incomplete. The refusal says from when to send it."""
    with pytest.raises(Refusal) as exc:
        load_governance().resolve_agreement("RW1", "staff_in_post", "2026-11", today)
    assert exc.value.reason == "period_not_ended"
    assert f"period 2026-11 is the month under way on {today} (it ends on 2026-11-30)" in str(
        exc.value
    )
    assert "prepare it from 2026-12-01" in str(exc.value)


def test_a_package_made_during_the_month_is_refused_when_taken_up_after_it():
    """At the hub the day it arrived decides: the data left the organisation then."""
    gov = load_governance()
    with pytest.raises(Refusal) as exc:
        gov.resolve_agreement(
            "RW1",
            "staff_in_post",
            "2026-11",
            dt.date(2026, 12, 3),
            arrived_on=dt.date(2026, 11, 28),
        )
    assert exc.value.reason == "period_not_ended" and "under way on 2026-11-28" in str(exc.value)


def test_a_period_that_has_not_begun_is_refused_with_its_dates():
    with pytest.raises(Refusal) as exc:
        load_governance().resolve_agreement("RW1", "staff_in_post", "2026-12", TODAY)
    assert "period 2026-12 has not begun: it starts on 2026-12-01 and today is 2026-11-24" in str(
        exc.value
    )


@pytest.mark.parametrize(
    "org,extract,period,reason",
    [
        ("ZZZ1", "staff_in_post", "2026-09", "unknown_organisation"),
        ("HS101", "sickness_absence", "2026-09", "no_agreement"),
        ("RW1", "staff_in_post", "2023-01", "period_outside_agreement"),
        ("RW1", "staff_in_post", "2026-12", "period_in_future"),  # TODAY is 2026-11-24
        ("RW1", "vacancies", "2027-06", "period_in_future"),
    ],
)
def test_resolve_agreement_refusals(org, extract, period, reason):
    with pytest.raises(Refusal) as exc:
        load_governance().resolve_agreement(org, extract, period, TODAY)
    assert exc.value.reason == reason


def test_an_agreement_starting_mid_month_covers_that_month_once_it_is_over(governance_copy):
    """A month under way when the agreement starts is covered by it (its census, the last
    day, falls inside the agreement). Its extract can be shared only after the month is over,
    when the agreement is in force: before then it is the month under way, even when the hub
    takes it up after (it reached the hub during the month)."""
    _edit(
        governance_copy / "agreements/ISA-WV-001.yaml",
        lambda d: d.update(start_date="2026-09-15", end_date="2026-12-31"),
    )
    gov = load_governance(governance_copy)
    for received, arrived in [
        (dt.date(2026, 9, 14), None),
        (dt.date(2026, 9, 20), dt.date(2026, 9, 10)),
        (dt.date(2026, 10, 2), dt.date(2026, 9, 30)),
    ]:
        with pytest.raises(Refusal) as exc:
            gov.resolve_agreement("RW1", "staff_in_post", "2026-09", received, arrived_on=arrived)
        assert exc.value.reason == "period_not_ended", (received, arrived)
    for received, arrived in [
        (dt.date(2026, 10, 1), None),
        (dt.date(2026, 10, 5), dt.date(2026, 10, 1)),
    ]:
        assert (
            gov.resolve_agreement(
                "RW1", "staff_in_post", "2026-09", received, arrived_on=arrived
            ).id
            == "ISA-WV-001"
        )
    # Arrival does not extend an end date.
    with pytest.raises(Refusal) as exc:
        gov.resolve_agreement(
            "RW1", "staff_in_post", "2026-09", dt.date(2027, 1, 2), arrived_on=dt.date(2026, 12, 1)
        )
    assert exc.value.reason == "agreement_expired"


def test_a_draft_agreement_is_not_in_force(governance_copy):
    _edit(governance_copy / "agreements/ISA-WV-001.yaml", lambda d: d.update(status="draft"))
    with pytest.raises(Refusal) as exc:
        load_governance(governance_copy).resolve_agreement("RW1", "staff_in_post", "2026-09", TODAY)
    assert exc.value.reason == "agreement_not_in_force" and "draft" in str(exc.value)


def test_suspended_and_expired_agreements_refuse(governance_copy):
    _edit(governance_copy / "agreements/ISA-WV-002.yaml", lambda d: d.update(status="suspended"))
    gov = load_governance(governance_copy)
    with pytest.raises(Refusal) as exc:
        gov.resolve_agreement("P81001", "staff_in_post", "2026-09", TODAY)
    assert exc.value.reason == "agreement_suspended"
    with pytest.raises(Refusal) as exc:
        gov.resolve_agreement("RW1", "staff_in_post", "2026-09", dt.date(2028, 4, 1))
    assert exc.value.reason == "agreement_expired"


def test_an_agreement_ended_before_its_end_date_says_so_not_that_the_date_passed(governance_copy):
    """Found in review: status ended with its end date still to come was refused as 'ended on
    2028-03-31', a date that had not come."""
    _edit(governance_copy / "agreements/ISA-WV-001.yaml", lambda d: d.update(status="ended"))
    gov = load_governance(governance_copy)
    with pytest.raises(Refusal) as exc:
        gov.resolve_agreement("RW1", "staff_in_post", "2026-09", TODAY)
    assert exc.value.reason == "agreement_expired"
    assert "has been ended (status ended) before its end date of 2028-03-31" in str(exc.value)
    assert not gov.agreements["ISA-WV-001"].in_force_on(TODAY)
    active = gov.agreements["ISA-WV-002"]
    assert active.in_force_on(TODAY) and not active.in_force_on(dt.date(2028, 4, 1))


def test_a_key_written_twice_is_an_error_on_its_line(governance_copy):
    """Found in review: `status: active` then `status: ended` in one agreement loaded as ended
    with no finding: YAML keeps the last value."""
    path = governance_copy / "agreements/ISA-WV-002.yaml"
    path.write_text(path.read_text().replace("status: active\n", "status: active\nstatus: ended\n"))
    [f] = _errors(governance_copy, "duplicate_key")
    assert f.file.endswith("ISA-WV-002.yaml") and f.field == "status"
    assert f.row == 5 and "first at row 4" in f.message


def test_output_access_naming_no_published_output_or_a_misspelt_audience_is_an_error(
    governance_copy,
):
    """Found in review: 'ICS workforce planner' and 'stabilty' passed the check, and would
    have left the organisations' rows out of the publication without a word."""

    def mutate(d):
        d["output_access"][0]["audience"] = "ICS workforce planner"
        d["output_access"][0]["outputs"][2] = "stabilty"

    _edit(governance_copy / "agreements/ISA-WV-004.yaml", mutate)
    [audience] = _errors(governance_copy, "unknown_audience")
    assert audience.field == "output_access[0].audience" and audience.row
    [output] = _errors(governance_copy, "unknown_output")
    assert output.field == "output_access[0].outputs[2]" and "'stability'" in output.message
    # Another audience (a trust board) is not a typo of the publication's.
    assert not [
        f for f in run_check(today=TODAY)[0] if f.rule in ("unknown_audience", "unknown_output")
    ]


def test_the_outputs_the_check_knows_are_those_the_published_models_declare():
    declared = set()
    for path in (PROJECT_ROOT / "dbt_project/models/published").glob("*.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            declared.add(model["meta"]["output"])
    assert declared == PUBLISHED_OUTPUTS


def test_a_package_under_an_expired_key_names_the_current_one_if_registered(governance_copy):
    """Found in review: with RW2's new key registered, a package under its old one was told
    to 'register a current key', which it had: it must be prepared again under that key."""
    from pipelines.crypto.signing import key_fingerprint
    from pipelines.hub.packages import registry_key_resolver

    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def key(key_id, private, start, end):
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "key_id": key_id,
            "algorithm": "ed25519",
            "public_key": base64.b64encode(raw).decode(),
            "valid_from": start,
            "valid_to": end,
        }

    def mutate(d):
        [rw2] = [o for o in d["organisations"] if o["ods_code"] == "RW2"]
        rw2["signing_keys"] = [
            key("RW2-K1", old, "2024-01-01", "2026-06-30"),
            key("RW2-K2", new, "2026-07-01", "2028-06-30"),
        ]

    _edit(governance_copy / "organisations.yaml", mutate)
    resolve = registry_key_resolver(load_governance(governance_copy))
    with pytest.raises(Refusal) as exc:
        resolve("RW2", key_fingerprint(old.public_key()), TODAY)
    assert exc.value.reason == "signing_key_expired"
    assert "prepare the package again under RW2's current key (RW2-K2)" in str(exc.value)
    assert resolve("RW2", key_fingerprint(new.public_key()), TODAY) is not None


def test_a_date_in_another_format_says_how_to_write_it_and_names_the_file_in_full(
    governance_copy,
):
    """Found in review: "'31/03/2028' is not a 'date'" did not say the format, and a hub's
    hub/governance/... was named governance/..., as if it were the project's own folder."""
    path = governance_copy / "agreements/ISA-WV-002.yaml"
    _edit(path, lambda d: d.update(end_date="31/03/2028"))
    [f] = [f for f in _errors(governance_copy, "schema") if f.field == "end_date"]
    assert "Write dates as YYYY-MM-DD" in f.message
    assert f.file == str(path)  # outside the working folder: in full
