"""Hub ingestion through real Dagster runs: accept, refuse, quarantine, supersede, duplicates,
concurrency, crash safety, no stage-1 token at rest, the audit chain, the asset graph."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import yaml

from pipelines.cli_hub import run_ingest_job
from pipelines.crypto import keys as kf
from pipelines.crypto.pseudonymise import person_pseudonym
from pipelines.crypto.signing import generate_signing_key, public_key_b64
from pipelines.defs.governance import audit_chain_intact
from pipelines.defs.ingest import inbox_sensor, ingest_submissions, run_period
from pipelines.defs.partitions import PERIODS as MONTHS
from pipelines.defs.publish import republish_on_accepted_submission
from pipelines.defs.resources import HubResource
from pipelines.errors import OwfError
from pipelines.hub import audit
from pipelines.hub.bootstrap import bootstrap, deliver, prepare_packages
from pipelines.hub.home import HubPaths
from pipelines.hub.warehouse import connect
from pipelines.submission.package import MAGIC, decrypt_package, read_package, seal_package
from pipelines.synth import generate, sample_system
from tests.packages import with_manifest

ORGS = ["RW1", "SC101", "HS101"]
PERIODS = ["2026-09", "2026-10"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    cfg = sample_system(months=2, first_period=PERIODS[0])
    cfg = replace(cfg, organisations=tuple(o for o in cfg.organisations if o.ods_code in ORGS))
    synth = generate(cfg, base / "synth")
    layout = bootstrap(base / "system", ORGS)
    prepared = prepare_packages(
        layout,
        synth.extracts_dir,
        ORGS,
        PERIODS,
        ["staff_in_post", "leavers", "vacancies", "sickness_absence", "temporary_staffing"],
        workers=1,
    )
    packages = {(p.org, p.extract, p.period): p.package for p in prepared if p.package}
    return {"base": base, "synth": synth, "layout": layout, "packages": packages}


def fresh_hub(world, tmp_path, edit_governance=None) -> HubPaths:
    """A new, empty hub with the world's hub keys and (optionally edited) registry."""
    src = world["layout"].hub
    root = tmp_path / "hub"
    root.mkdir()
    shutil.copytree(src.keys, root / "keys")
    shutil.copytree(src.governance, root / "governance")
    if edit_governance:
        edit_governance(root / "governance")
    return HubPaths.at(root).ensure()


def drop(paths: HubPaths, *packages: Path) -> list[Path]:
    out = []
    for p in packages:
        target = paths.inbox / p.name
        shutil.copyfile(p, target)
        out.append(target)
    return out


def run(paths: HubPaths, periods=None, packages=None, instance=None):
    """A real Dagster run of the ingest asset (and the audit chain check)."""
    periods = periods or PERIODS
    config = (
        {"ops": {"ingest_submissions": {"config": {"packages": [str(p) for p in packages]}}}}
        if packages
        else None
    )
    result = dg.materialize(
        [ingest_submissions, audit_chain_intact],
        resources={"hub": HubResource(root=str(paths.root))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config=config,
        tags={
            "dagster/asset_partition_range_start": periods[0],
            "dagster/asset_partition_range_end": periods[-1],
        },
        raise_on_error=False,
    )
    assert result.success, [e for e in result.all_events if e.is_failure]
    return result


def submissions(paths: HubPaths) -> list[tuple]:
    with connect(paths, write=False) as wh:
        return wh.execute(
            "SELECT org_code, extract, period, status, status_reason, row_count, submission_id FROM raw.submissions ORDER BY ALL"
        ).fetchall()


def receipt(paths: HubPaths, org: str, status: str) -> dict:
    for path in (paths.receipts / org).glob("*.json"):
        r = json.loads(path.read_text())
        if r["status"] == status:
            return r
    raise AssertionError(f"no {status} receipt for {org}")


def edit_yaml(path: Path, mutate) -> None:
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# Accept ----------------------------------------------------------------------------------


def test_accepts_and_lands_rekeyed_rows(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    pkg = world["packages"][("RW1", "staff_in_post", "2026-10")]
    drop(paths, pkg)
    result = run(paths)
    [(org, extract, period, status, _, rows, sid)] = submissions(paths)
    assert (org, extract, period, status) == ("RW1", "staff_in_post", "2026-10", "accepted")
    with connect(paths, write=False) as wh:
        landed = wh.execute(
            "SELECT count(*), count(DISTINCT submission_id), min(key_epoch), min(hub_key_epoch) FROM raw.staff_in_post"
        ).fetchall()[0]
        tokens = {r[0] for r in wh.execute("SELECT person_id FROM raw.staff_in_post").fetchall()}
    assert landed == (rows, 1, 1, 1)
    # The landed pseudonyms are stage 2: none equals a stage-1 token of the package.
    stage1 = set(
        decrypt_package(
            read_package(pkg.read_bytes()), kf.load_encryption_private_key(paths.hub_encryption_key)
        )
        .column("person_id")
        .to_pylist()
    )
    assert tokens and not tokens & stage1
    assert not (paths.inbox / pkg.name).exists(), "accepted packages are not kept"
    assert receipt(paths, "RW1", "accepted")["rows"] == rows
    meta = result.asset_materializations_for_node("ingest_submissions")[0].metadata
    assert meta["accepted"].value == 1
    assert [(c.check_name, c.passed) for c in result.get_asset_check_evaluations()] == [
        ("audit_chain_intact", True)
    ]


def test_whole_period_for_every_organisation_in_one_run(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    drop(paths, *world["packages"].values())
    run(paths)
    rows = submissions(paths)
    assert len(rows) == len(world["packages"]) and {r[3] for r in rows} == {"accepted"}
    assert {r[0] for r in rows} == set(ORGS) and {r[2] for r in rows} == set(PERIODS)


# Refusals --------------------------------------------------------------------------------


def _remove_org(gov: Path, org: str) -> None:
    edit_yaml(
        gov / "organisations.yaml",
        lambda d: d.update(organisations=[o for o in d["organisations"] if o["ods_code"] != org]),
    )
    for a in (gov / "agreements").glob("*.yaml"):
        edit_yaml(a, lambda d: d.update(parties=[p for p in d["parties"] if p["ods_code"] != org]))


def _agreement(name: str, **changes):
    def edit(gov: Path) -> None:
        edit_yaml(gov / "agreements" / f"{name}.yaml", lambda d: d.update(changes))

    return edit


def _signing_keys(org: str, mutate):
    """Edit `org`'s registered signing keys: mutate(its keys, every organisation by code)."""

    def edit(gov: Path) -> None:
        def change(d):
            by_code = {o["ods_code"]: o for o in d["organisations"]}
            mutate(by_code[org]["signing_keys"], by_code)

        edit_yaml(gov / "organisations.yaml", change)

    return edit


def _expired_yesterday(keys, _orgs) -> None:
    for k in keys:
        k["valid_from"] = "2024-01-01"
        k["valid_to"] = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _registered_with_another_key(keys, orgs) -> None:
    """Its registered key is not the one it signs with (a new key registered in its place):
    its own packages are then signed with a key not its own. (RW1's key in its place is a
    registry error, shared_public_key: RW1 could sign as it.)"""
    other = public_key_b64(generate_signing_key().public_key())
    keys[:] = [dict(k, key_id=f"{k['key_id']}-other", public_key=other) for k in keys]


@pytest.mark.parametrize(
    "org,extract,edit,reason",
    [
        ("SC101", "vacancies", lambda g: _remove_org(g, "SC101"), "unknown_organisation"),
        ("SC101", "vacancies", _agreement("ISA-WV-003", status="suspended"), "agreement_suspended"),
        (
            "SC101",
            "vacancies",
            _agreement("ISA-WV-003", end_date="2026-10-31"),
            "agreement_expired",
        ),
        (
            "SC101",
            "vacancies",
            _agreement("ISA-WV-003", start_date="2026-11-01", end_date="2027-12-31"),
            "period_outside_agreement",
        ),
        (
            "HS101",
            "vacancies",
            lambda g: edit_yaml(
                g / "agreements/ISA-WV-004.yaml", lambda d: d["extracts"].pop("vacancies")
            ),
            "no_agreement",
        ),
        (
            "HS101",
            "staff_in_post",
            lambda g: edit_yaml(
                g / "agreements/ISA-WV-004.yaml",
                lambda d: d["extracts"]["staff_in_post"]["fields"].remove("ethnic_category"),
            ),
            "field_not_permitted",
        ),
        ("SC101", "vacancies", _signing_keys("SC101", _expired_yesterday), "signing_key_expired"),
        (
            "SC101",
            "vacancies",
            _signing_keys("SC101", _registered_with_another_key),
            "unknown_signing_key",
        ),
    ],
)
def test_refuses_for_each_governance_reason(world, tmp_path, org, extract, edit, reason):
    paths = fresh_hub(world, tmp_path, edit)
    pkg = world["packages"][(org, extract, "2026-10")]
    drop(paths, pkg)
    run(paths)
    [row] = submissions(paths)
    assert row[3] == "refused" and row[4] == reason
    r = receipt(paths, org, "refused")
    assert r["reason"] == reason and r["findings"][0]["file"] == pkg.name and r["what_to_do"]
    assert (paths.refused / org / pkg.name).exists() and not (paths.inbox / pkg.name).exists()
    with connect(paths, write=False) as wh:
        assert wh.execute(f"SELECT count(*) FROM raw.{extract}").fetchall() == [(0,)]
        # The audit event says what was decided against (found in review: only the reason).
        [detail] = wh.execute("SELECT detail FROM audit.events WHERE event = 'refused'").fetchone()
    detail = json.loads(detail)
    assert detail["reason"] == reason and detail["message"] == r["findings"][0]["message"]
    if reason in ("agreement_suspended", "agreement_expired"):
        assert "ISA-WV-003" in detail["message"]
    if reason == "field_not_permitted":
        assert detail["agreement"] == "ISA-WV-004"
    if reason == "signing_key_expired":
        assert "SC101" in detail["message"]


def test_a_package_that_arrived_before_its_month_was_over_is_refused(world, tmp_path):
    """October's package delivered on 10 October, taken up on 2 November (the hub was down):
    it left the organisation before the month was over, so it is incomplete, however late it
    is taken up. The arrival is the record's received_at. The agreement came into force on
    15 October: October is covered by it, and a package delivered on 1 November is accepted."""
    from pipelines.hub.ingest import ingest

    def edit(gov: Path) -> None:
        _agreement("ISA-WV-003", start_date="2026-10-15")(gov)

        def keys_from_2024(d):  # the world's keys are valid from the day it was made
            for o in d["organisations"]:
                for k in o["signing_keys"]:
                    k["valid_from"] = "2024-01-01"

        edit_yaml(gov / "organisations.yaml", keys_from_2024)

    # Made on 10 October (a package is never made after it arrives: created_after_arrival).
    made = "2026-10-10T11:00:00+00:00"
    october = world["packages"][("SC101", "vacancies", "2026-10")]
    paths = fresh_hub(world, tmp_path, edit)
    [f] = drop(paths, _reseal(world, paths, october, lambda t: t, "early", made))
    arrived = dt.datetime(2026, 10, 10, 12, 0, tzinfo=dt.UTC).timestamp()
    os.utime(f, (arrived, arrived))
    [p] = ingest(paths, today=dt.date(2026, 11, 2)).outcomes
    assert (p.status, p.reason) == ("refused", "period_not_ended")
    assert "period 2026-10 is the month under way on 2026-10-10" in p.reasons[0].message
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT received_at FROM raw.submissions").fetchall() == [
            (dt.datetime(2026, 10, 10, 12, 0),)
        ]
    # The same package delivered on 1 November is accepted.
    (tmp_path / "later").mkdir()
    later = fresh_hub(world, tmp_path / "later", edit)
    [f] = drop(later, _reseal(world, later, october, lambda t: t, "early", made))
    arrived = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC).timestamp()
    os.utime(f, (arrived, arrived))
    [p] = ingest(later, today=dt.date(2026, 11, 2)).outcomes
    assert p.status == "accepted"


def _forged(world, tmp_path) -> Path:
    """RW1's vacancies package with the last byte of its signature flipped."""
    pkg = world["packages"][("RW1", "vacancies", "2026-10")]
    data = bytearray(pkg.read_bytes())
    data[-1] ^= 0x01
    bad = tmp_path / pkg.name
    bad.write_bytes(bytes(data))
    return bad


def test_a_package_following_another_major_version_of_the_standard_is_refused(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    src = world["packages"][("RW1", "vacancies", "2026-10")]
    pkg = _reseal(
        world, paths, src, lambda t: t, "std2", manifest_changes={"standard_version": "2.0.0"}
    )
    drop(paths, pkg)
    run(paths)
    assert submissions(paths)[0][3:5] == ("refused", "unsupported_standard_version")
    assert (
        "Update the submission tool" in receipt(paths, "RW1", "refused")["findings"][0]["message"]
    )
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.vacancies").fetchall() == [(0,)]


def test_refuses_a_bad_signature(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    drop(paths, _forged(world, tmp_path))
    run(paths)
    assert submissions(paths)[0][3:5] == ("refused", "bad_signature")


def test_a_forged_manifest_with_values_of_the_wrong_type_is_refused_as_damaged(world, tmp_path):
    """The manifest of an unverified package is anyone's: one whose values have the wrong
    types is refused as damaged, and the other packages of the run land."""
    pkg = world["packages"][("RW1", "vacancies", "2026-10")]
    raw = read_package(pkg.read_bytes())
    manifest = dict(
        raw.manifest,
        package_id="forgedtypes".ljust(32, "0"),
        key_epoch="one",
        row_count=[1, 2],
        fields="everything",
        created_at={"at": "noon"},
        standard_version=3,
    )
    forged = tmp_path / "forgedtypes.owfpkg"
    forged.write_bytes(with_manifest(pkg.read_bytes(), json.dumps(manifest).encode()))
    paths = fresh_hub(world, tmp_path)
    drop(paths, forged, world["packages"][("SC101", "vacancies", "2026-10")])
    run(paths)
    with connect(paths, write=False) as wh:
        rows = wh.execute(
            "SELECT org_code, status, status_reason, key_epoch, row_count, fields, created_at,"
            " standard_version FROM raw.submissions ORDER BY status"
        ).fetchall()
    # Refused as damaged, before anything used its values: none of them is recorded.
    assert rows[0][:3] == ("SC101", "accepted", None)
    assert rows[1] == (None, "refused", "bad_manifest", None, None, None, None, None)
    assert (paths.refused / "_unknown" / forged.name).exists()


def test_a_forged_copy_of_an_accepted_package_changes_nothing_of_it(world, tmp_path):
    """A package that claims an accepted submission's package id but fails verification is
    refused on its own record: the accepted submission stays current, with its rows."""
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-10")])
    run(paths)
    [(org, extract, period, status, _, rows, sid)] = submissions(paths)
    drop(paths, _forged(world, tmp_path))
    run(paths)
    after = submissions(paths)
    assert (org, extract, period, "accepted", None, rows, sid) in after
    assert [r[3:5] for r in after if r[6] != sid] == [("refused", "bad_signature")]


def test_a_package_id_that_is_not_a_plain_name_is_a_damaged_manifest(world, tmp_path):
    """The package id names the receipt's file: one that climbs out of the receipts folder is
    refused (even signed by the organisation), and nothing is written outside the hub."""
    paths = fresh_hub(world, tmp_path)
    climbing = _reseal(
        world,
        paths,
        world["packages"][("RW1", "vacancies", "2026-10")],
        lambda t: t,
        "climbing",
        package_id="../../../escaped",
    )
    outside = set(tmp_path.rglob("*"))
    drop(paths, climbing)
    run(paths)
    assert [r[3:5] for r in submissions(paths)] == [("refused", "bad_manifest")]
    assert not [p for p in set(tmp_path.rglob("*")) - outside if paths.root not in p.parents]


def _signed_for_period(world, paths: HubPaths, period: str, name: str) -> Path:
    """RW1's vacancies package for 2026-10, its rows and manifest saying `period`, signed
    with RW1's own key (as its tool would, given that period)."""
    src = world["packages"][("RW1", "vacancies", "2026-10")]
    pkg = _reseal(
        world,
        paths,
        src,
        lambda t: t.set_column(
            t.column_names.index("period"), "period", pa.array([period] * t.num_rows)
        ),
        name,
    )
    raw = read_package(pkg.read_bytes())
    signing = kf.load_signing_private_key(world["layout"].org_keys("RW1") / "RW1-signing.key")
    data, _ = seal_package(
        decrypt_package(raw, kf.load_encryption_private_key(paths.hub_encryption_key)),
        dict(raw.manifest, period=period),
        signing,
        kf.load_encryption_public_key(paths.keys / "hub-encryption.pub"),
    )
    pkg.write_bytes(data)
    return pkg


def test_a_signed_package_with_a_malformed_period_is_refused_and_the_run_goes_on(world, tmp_path):
    """A period that is not a month ('2026-13'), signed by the organisation's own key, is
    refused as a damaged manifest naming the field and the rule; it used to stop every run
    for every organisation. Its record holds no period (the models read it as a date)."""
    paths = fresh_hub(world, tmp_path)
    month13 = _signed_for_period(world, paths, "2026-13", "month13")
    good = world["packages"][("SC101", "vacancies", "2026-10")]
    # As the sensor sends it: in a run with the other packages (its period is no partition).
    run(paths, packages=drop(paths, month13, good))
    rows = {r[0]: r[1:5] for r in submissions(paths)}
    assert rows["SC101"] == ("vacancies", "2026-10", "accepted", None)
    assert rows["RW1"] == ("vacancies", None, "refused", "bad_manifest")
    r = receipt(paths, "RW1", "refused")
    [finding] = r["findings"]
    assert finding["rule"] == "bad_manifest" and finding["field"] == "period"
    assert finding["file"] == month13.name and "YYYY-MM" in finding["message"]
    assert "'2026-13'" in finding["found"] and "prepare it again" in finding["message"]
    assert (paths.refused / "RW1" / month13.name).exists()
    assert not list(paths.inbox.iterdir())


def test_a_signed_package_for_the_month_under_way_is_refused_in_the_latest_run(world, tmp_path):
    """The month under way has no run yet (its partition begins when it ends): its package
    went to the latest month's run, which landed it under that run's partition. Every extract
    describes a whole month, so it is refused, saying from when to send it."""
    paths = fresh_hub(world, tmp_path)
    today = dt.date.today()
    current = today.strftime("%Y-%m")
    [waiting] = drop(paths, _signed_for_period(world, paths, current, "current"))
    latest = MONTHS.get_last_partition_key()
    assert run_period(waiting) == latest
    run(paths, periods=[latest])  # as the sensor asks: the latest month's run, whole inbox
    assert [r[1:5] for r in submissions(paths)] == [
        ("vacancies", current, "refused", "period_not_ended")
    ]
    [finding] = receipt(paths, "RW1", "refused")["findings"]
    assert f"period {current} is the month under way on {today}" in finding["message"]
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.vacancies").fetchall() == [(0,)]


def test_a_signed_package_for_a_month_that_has_not_begun_is_refused_not_published(world, tmp_path):
    """A package claiming a future month (a mistyped period) went to the latest period's
    run, which landed it, and the next publication showed that month."""
    paths = fresh_hub(world, tmp_path)
    future = (dt.date.today().replace(day=1) + dt.timedelta(days=400)).strftime("%Y-%m")
    pkg = _signed_for_period(world, paths, future, "future")
    run(paths, packages=drop(paths, pkg))
    assert [r[1:5] for r in submissions(paths)] == [
        ("vacancies", future, "refused", "period_in_future")
    ]
    [finding] = receipt(paths, "RW1", "refused")["findings"]
    assert f"period {future} has not begun" in finding["message"]
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.vacancies").fetchall() == [(0,)]


@pytest.mark.parametrize("one_run", [False, True])
def test_two_organisations_packages_with_one_package_id_land_apart(world, tmp_path, one_run):
    """SC101 signs a package carrying RW1's package id (copied, or by a faulty tool): it lands
    under its own file's id, and RW1's submission, its record and rows stay as they were."""
    paths = fresh_hub(world, tmp_path)
    rw1 = world["packages"][("RW1", "vacancies", "2026-10")]
    rw1_id = read_package(rw1.read_bytes()).manifest["package_id"]
    sc101 = _reseal(
        world,
        paths,
        world["packages"][("SC101", "vacancies", "2026-10")],
        lambda t: t,
        "sc101copy",
        package_id=rw1_id,
    )
    drop(paths, rw1)
    if not one_run:
        run(paths)
    drop(paths, sc101)
    run(paths)
    rows = {r[0]: (r[3], r[6]) for r in submissions(paths)}
    assert rows["RW1"] == ("accepted", rw1_id)
    assert rows["SC101"][0] == "accepted" and rows["SC101"][1].startswith("sha256-")
    with connect(paths, write=False) as wh:
        landed = dict(
            wh.execute("SELECT org_code, submission_id FROM raw.vacancies GROUP BY ALL").fetchall()
        )
    assert landed == {"RW1": rw1_id, "SC101": rows["SC101"][1]}


def test_a_refused_package_with_a_held_package_s_name_is_kept_beside_it(world, tmp_path):
    """Two different files under one name, both refused, in two runs: both are kept, each
    record names its own file."""
    import hashlib

    paths = fresh_hub(world, tmp_path)
    first = _forged(world, tmp_path)
    second = tmp_path / "again" / first.name
    second.parent.mkdir()
    data = bytearray(first.read_bytes())
    data[-2] ^= 0x01
    second.write_bytes(bytes(data))
    for forged in (first, second):
        drop(paths, forged)
        run(paths)
    with connect(paths, write=False) as wh:
        held = wh.execute(
            "SELECT package_file, package_sha256 FROM raw.submissions WHERE status = 'refused'"
        ).fetchall()
    assert len(held) == 2 and len({name for name, _ in held}) == 2
    for name, sha in held:
        path = paths.refused / "RW1" / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def owf_quarantine(paths: HubPaths, *args: str) -> subprocess.CompletedProcess:
    owf = str(Path(sys.executable).parent / "owf")
    return subprocess.run(
        [owf, "quarantine", *args, "--hub", str(paths.root)], capture_output=True, text=True
    )


def test_owf_quarantine_refuses_an_id_prefix_that_fits_two_held_submissions(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    held = [
        _reseal(
            world,
            paths,
            world["packages"][("RW1", "staff_in_post", "2026-10")],
            lambda t: _set(t, "gender", 4, "Q"),
            f"samestart{i}",
            package_id=f"samestart{i}".ljust(32, "0"),
        )
        for i in (1, 2)
    ]
    drop(paths, *held)
    run(paths)
    assert [r[3] for r in submissions(paths)] == ["quarantined", "quarantined"]
    both = owf_quarantine(paths, "discard", "samestart", "--reason", "test")
    assert both.returncode != 0
    assert "start of 2 held submissions" in both.stdout + both.stderr
    assert [r[3] for r in submissions(paths)] == ["quarantined", "quarantined"]
    one = owf_quarantine(paths, "discard", "samestart2", "--reason", "test")
    assert one.returncode == 0, one.stdout + one.stderr
    assert sorted((r[6][:10], r[3]) for r in submissions(paths)) == [
        ("samestart1", "quarantined"),
        ("samestart2", "discarded"),
    ]


def _one_refused_one_quarantined(world, paths: HubPaths, tmp_path, name: str):
    """A forged package (refused: bad signature) and one with a bad code (quarantined), both
    from RW1, ingested: (forged file, quarantined file, {status: submission id})."""
    forged = _forged(world, tmp_path)
    quarantined = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(t, "gender", 4, "Q"),
        name,
    )
    drop(paths, forged, quarantined)
    run(paths)
    held = {r[3]: r[6] for r in submissions(paths)}
    assert set(held) == {"refused", "quarantined"}
    return forged, quarantined, held


def test_owf_quarantine_lists_refused_and_quarantined_packages_and_discards_a_refused_one(
    world, tmp_path
):
    paths = fresh_hub(world, tmp_path)
    forged, _, held = _one_refused_one_quarantined(world, paths, tmp_path, "badgender3")

    listed = owf_quarantine(paths, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(
        held["refused"] in line and "bad_signature" in line and "refused:" in line for line in lines
    ), listed.stdout
    assert any(
        held["quarantined"] in line and "corrected resubmission" in line for line in lines
    ), listed.stdout
    # Each finding with where it is and what it says; nothing unknown printed as "None".
    assert "None" not in listed.stdout
    assert any(
        line.startswith("    row ") and "field gender: codelist: gender must be" in line
        for line in lines
    ), listed.stdout

    refused_file = paths.refused / "RW1" / forged.name
    assert refused_file.exists()
    no = owf_quarantine(paths, "release", held["refused"][:10], "--reason", "trust me")
    assert no.returncode != 0 and "cannot override" in (no.stdout + no.stderr)
    assert refused_file.exists()  # nothing changed

    gone = owf_quarantine(paths, "discard", held["refused"][:10], "--reason", "forged test copy")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not refused_file.exists()
    statuses = {r[6]: r[3] for r in submissions(paths)}
    assert statuses[held["refused"]] == "discarded"
    assert statuses[held["quarantined"]] == "quarantined"
    with connect(paths, write=False) as wh:
        last = wh.execute(
            "SELECT event, submission_id, detail FROM audit.events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        assert last[:2] == ("discarded", held["refused"]) and "forged test copy" in last[2]
        assert audit.verify(wh, audit.read_head(paths))[1] == []
    again = owf_quarantine(paths, "list")
    assert held["refused"] not in again.stdout and held["quarantined"] in again.stdout


def _reseal(
    world,
    paths: HubPaths,
    pkg: Path,
    mutate,
    name: str,
    created_at: str | None = None,
    package_id: str | None = None,
    manifest_changes: dict | None = None,
    without: tuple[str, ...] = (),
) -> Path:
    """A package re-made by its organisation with a changed payload (as a buggy or hand-edited
    extract would be), made now or at `created_at`, with a new package id or `package_id`
    (and any other `manifest_changes`)."""
    raw = read_package(pkg.read_bytes())
    table = decrypt_package(raw, kf.load_encryption_private_key(paths.hub_encryption_key))
    table = mutate(table)
    org = raw.manifest["org_code"]
    signing = kf.load_signing_private_key(world["layout"].org_keys(org) / f"{org}-signing.key")
    manifest = dict(
        raw.manifest,
        package_id=package_id or name.ljust(32, "0")[:32],
        created_at=created_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **(manifest_changes or {}),
    )
    for field in without:  # as an older tool wrote it
        manifest.pop(field)
    data, _ = seal_package(
        table, manifest, signing, kf.load_encryption_public_key(paths.keys / "hub-encryption.pub")
    )
    out = paths.root.parent / f"{name}.owfpkg"
    out.write_bytes(data)
    return out


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.column_names.index(column)
    return table.set_column(i, column, pa.array(values, table.schema.field(column).type))


def _scale(column: str, factor: float):
    def mutate(t: pa.Table) -> pa.Table:
        return _set(t, column, 0, t.column(column)[0].as_py() * factor)

    return mutate


@pytest.mark.parametrize(
    "extract,mutate,rule",
    [
        (
            "vacancies",
            lambda t: _set(
                t, "vacant_fte", 0, t.column("funded_establishment_fte")[0].as_py() * 0.9
            ),
            "vacancies.plausible_vacancy_rate",
        ),
        (
            "sickness_absence",
            lambda t: _set(t, "fte_days_available", 0, 50.0),
            "sickness_absence.plausible_days_available",
        ),
        (
            "temporary_staffing",
            _scale("spend_gbp", 1000.0),
            "temporary_staffing.plausible_hourly_cost",
        ),
    ],
)
def test_each_extracts_plausibility_suite_quarantines_a_releasable_submission(
    world, tmp_path, extract, mutate, rule
):
    paths = fresh_hub(world, tmp_path)
    pkg = _reseal(
        world, paths, world["packages"][("RW1", extract, "2026-10")], mutate, f"odd{extract[:4]}"
    )
    drop(paths, pkg)
    run(paths)
    assert submissions(paths)[0][3] == "quarantined"
    r = receipt(paths, "RW1", "quarantined")
    assert [(f["rule"], f["row"]) for f in r["findings"]] == [(rule, 2)]
    assert r["plausibility_only"] is True


def test_a_month_with_a_third_of_last_months_rows_is_quarantined_as_implausible(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    shrunk = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: t.slice(0, t.num_rows // 3),
        "shrunk",
    )
    drop(paths, shrunk)
    run(paths)
    by_period = {r[2]: r[3] for r in submissions(paths)}
    assert by_period == {"2026-09": "accepted", "2026-10": "quarantined"}
    rows = {r[2]: r[5] for r in submissions(paths)}
    r = receipt(paths, "RW1", "quarantined")
    assert [f["rule"] for f in r["findings"]] == ["submission_volumes.plausible_volume"]
    assert r["plausibility_only"] is True  # releasable once the trust confirms it
    # The reason gives the figures to take to the trust, not only the rule.
    found = re.search(
        r"This staff_in_post has ([\d,]+) rows; the organisation's accepted one for 2026-09"
        r" had ([\d,]+) \((0\.\d\d) times as many\)",
        r["findings"][0]["message"],
    )
    assert found, r["findings"][0]["message"]
    assert [int(found[i].replace(",", "")) for i in (1, 2)] == [rows["2026-10"], rows["2026-09"]]
    assert float(found[3]) == round(rows["2026-10"] / rows["2026-09"], 2) < 0.5


def test_failed_validation_is_quarantined_with_row_field_and_rule(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    pkg = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(t, "gender", 4, "Q"),
        "badgender",
    )
    drop(paths, pkg)
    run(paths)
    assert submissions(paths)[0][3:5] == ("quarantined", "codelist")
    r = receipt(paths, "RW1", "quarantined")
    assert [(f["row"], f["field"], f["rule"]) for f in r["findings"]] == [(6, "gender", "codelist")]
    assert r["plausibility_only"] is False
    assert (paths.quarantine / "RW1" / pkg.name).exists()


def test_a_raw_identifier_quarantines_its_package_and_the_run_goes_on(world, tmp_path):
    """A package holding an identifier that is no stage-1 pseudonym (a raw NI number) is
    quarantined with row, field and rule, without the value; the run lands the others. Found
    in review: re-keying it raised and failed the whole run."""
    paths = fresh_hub(world, tmp_path)
    raw_ni = "QQ123456C"
    pkg = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(t, "person_id", 4, raw_ni),
        "rawni",
    )
    drop(paths, pkg, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    assert [(s[2], s[3], s[4]) for s in submissions(paths)] == [
        ("2026-09", "accepted", None),
        ("2026-10", "quarantined", "pseudonym"),
    ]
    r = receipt(paths, "RW1", "quarantined")
    assert [(f["row"], f["field"], f["rule"]) for f in r["findings"]] == [
        (6, "person_id", "pseudonym")
    ]
    assert raw_ni not in json.dumps(r)
    with connect(paths, write=False) as wh:
        assert wh.execute(
            "SELECT count(*) FROM raw.staff_in_post WHERE person_id = ?", [raw_ni]
        ).fetchall() == [(0,)]


def test_a_row_level_expectation_failure_quarantines_only_its_own_package(world, tmp_path):
    """Three staff-in-post packages validated as one GX batch, the middle one with an
    implausible row: GX names it by its place in the batch, and that one package, and no
    other, is quarantined, at that row."""
    paths = fresh_hub(world, tmp_path)
    odd = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(t, "contracted_hours", 3, 70.0),
        "longweek",
    )
    dropped = drop(
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-09")],
        odd,
        world["packages"][("SC101", "staff_in_post", "2026-10")],
    )
    now = dt.datetime.now(dt.UTC).timestamp()
    for i, path in enumerate(dropped):  # the inbox's order, and so the batch's
        os.utime(path, (now + i, now + i))
    run(paths)
    assert sorted((s[0], s[2], s[3]) for s in submissions(paths)) == [
        ("RW1", "2026-09", "accepted"),
        ("RW1", "2026-10", "quarantined"),
        ("SC101", "2026-10", "accepted"),
    ]
    r = receipt(paths, "RW1", "quarantined")
    assert r["package_file"] == "longweek.owfpkg"
    assert {(f["rule"], f["row"]) for f in r["findings"]} >= {
        ("staff_in_post.plausible_weekly_hours", 5)
    }
    assert {f["row"] for f in r["findings"]} == {5}


def test_a_payload_column_of_another_type_refuses_its_package_and_the_run_goes_on(world, tmp_path):
    """A package whose identifier column holds numbers (some tool other than `owf submit
    prepare`) is refused, naming the column and the type wanted; the run lands the others.
    Found in review: the extract's batch of packages could not be put together, and the whole
    run failed with Arrow's error."""

    def numbers(t: pa.Table) -> pa.Table:
        i = t.column_names.index("person_id")
        return t.set_column(i, "person_id", pa.array(range(t.num_rows), pa.int64()))

    paths = fresh_hub(world, tmp_path)
    pkg = _reseal(
        world, paths, world["packages"][("RW1", "staff_in_post", "2026-10")], numbers, "ints"
    )
    drop(paths, pkg, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    assert [(s[2], s[3], s[4]) for s in submissions(paths)] == [
        ("2026-09", "accepted", None),
        ("2026-10", "refused", "payload_type_mismatch"),
    ]
    [finding] = receipt(paths, "RW1", "refused")["findings"]
    assert finding["field"] == "person_id" and "int64" in finding["message"]
    assert "string" in finding["message"] and "owf submit prepare" in finding["message"]


def test_the_volume_is_compared_with_the_latest_earlier_accepted_month(world, tmp_path):
    """A month's rows are compared with the organisation's latest accepted month before it,
    not an older one: September was a third of October's size, and November, October's size,
    is plausible."""
    paths = fresh_hub(world, tmp_path)
    third = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-09")],
        lambda t: t.slice(0, t.num_rows // 3),
        "third09",
    )
    # Both in one run: each is compared with what was accepted before the run (nothing).
    drop(paths, third, world["packages"][("RW1", "staff_in_post", "2026-10")])
    run(paths)

    def november(t: pa.Table) -> pa.Table:
        i = t.column_names.index("period")
        return t.set_column(i, "period", pa.array(["2026-11"] * t.num_rows, pa.string()))

    nov = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        november,
        "nov",
        manifest_changes={"period": "2026-11"},
    )
    drop(paths, nov)
    run(paths, periods=[*PERIODS, "2026-11"])
    assert {r[2]: r[3] for r in submissions(paths)} == {
        "2026-09": "accepted",
        "2026-10": "accepted",
        "2026-11": "accepted",
    }


def test_plausibility_failure_is_quarantined_and_can_be_released(world, tmp_path):
    from pipelines.hub.quarantine import discard, list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    pkg = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(_set(t, "fte", 2, 1.8), "contracted_hours", 2, 67.5),
        "bigfte",
    )
    drop(paths, pkg)
    run(paths)
    [q] = list_quarantined(paths)
    assert q.releasable and {f["rule"] for f in q.receipt["findings"]} >= {
        "staff_in_post.plausible_fte"
    }
    assert any(f["row"] == 4 and f["field"] == "fte" for f in q.receipt["findings"])
    assert (
        release(
            paths, q.submission_id[:10], "confirmed with RW1: a consultant on 1.8 FTE", "tester"
        )
        == "accepted"
    )
    assert submissions(paths)[0][3] == "accepted"
    with connect(paths, write=False) as wh:
        events = [
            r[0] for r in wh.execute("SELECT event FROM audit.events ORDER BY seq").fetchall()
        ]
    assert events[-3:] == ["verified", "released", "accepted"] and "quarantined" in events
    assert not (paths.quarantine / "RW1" / pkg.name).exists()
    # Released twice: it said "no quarantined or refused submission", as if the id were wrong.
    with pytest.raises(OwfError, match="is no longer held: it is accepted") as again:
        release(paths, q.submission_id[:10].upper(), "again", "tester")
    assert "Nothing was changed" in str(again.value)
    with pytest.raises(OwfError, match="give at least 8 characters"):
        release(paths, q.submission_id[:5], "too short", "tester")

    bad = _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-09")],
        lambda t: _set(t, "gender", 1, "Q"),
        "badgender2",
    )
    drop(paths, bad)
    run(paths)
    q = [x for x in list_quarantined(paths)][0]
    with pytest.raises(OwfError, match="cannot be released"):
        release(paths, q.submission_id, "please", "tester")
    discard(paths, q.submission_id, "RW1 will resubmit", "tester")
    assert [r[3] for r in submissions(paths) if r[6] == q.submission_id] == ["discarded"]


def test_a_quarantined_package_damaged_since_is_not_released_as_a_new_one(world, tmp_path):
    """Found in review: a quarantined file truncated since was ingested by `release` as a new
    package, refused under a record of its own (moved to refused/_unknown/), and the message
    said the submission was now held as quarantined there; the original record stayed
    quarantined with its file gone. Now the release says the file is not the package and
    changes nothing."""
    from pipelines.hub.quarantine import list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    drop(paths, _bigfte(world, paths))
    run(paths)
    [q] = list_quarantined(paths)
    data = q.package.read_bytes()
    q.package.write_bytes(data[: len(data) // 2])
    head = paths.audit_head.read_bytes()
    with pytest.raises(OwfError, match="is not the package quarantined") as refusal:
        release(paths, q.submission_id, "confirmed with RW1", "tester")
    assert "Nothing was done" in str(refusal.value)
    assert paths.audit_head.read_bytes() == head and q.package.exists()
    assert [(x.submission_id, x.status) for x in list_quarantined(paths)] == [
        (q.submission_id, "quarantined")
    ]
    q.package.write_bytes(data)  # restored from the backup: released as before
    assert release(paths, q.submission_id, "confirmed with RW1", "tester") == "accepted"


def test_a_released_submission_superseded_on_arrival_names_its_successor(world, tmp_path):
    """Released after a later package for the same month was accepted: it lands superseded,
    and its record names the submission that supersedes it and takes the retention of the
    agreement it is accepted under (changed while it was held), as a new record would."""
    from pipelines.hub.quarantine import list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    src = world["packages"][("RW1", "staff_in_post", "2026-10")]
    odd = _reseal(
        world,
        paths,
        src,
        lambda t: _set(_set(t, "fte", 2, 1.8), "contracted_hours", 2, 67.5),
        "bigfte",
        "2026-11-01T00:00:00+00:00",
    )
    drop(paths, odd)
    run(paths)
    later = _reseal(world, paths, src, lambda t: t, "later", "2026-11-02T00:00:00+00:00")
    drop(paths, later)
    run(paths)
    _agreement("ISA-WV-001", retention={"months": 36})(paths.governance)
    [q] = list_quarantined(paths)
    assert release(paths, q.submission_id, "confirmed with RW1", "tester") == "superseded"
    with connect(paths, write=False) as wh:
        rows = wh.execute(
            "SELECT submission_id, status, superseded_by, agreement_id, retention_months"
            " FROM raw.submissions ORDER BY created_at"
        ).fetchall()
    assert rows == [
        (q.submission_id, "superseded", "later".ljust(32, "0"), "ISA-WV-001", 36),
        ("later".ljust(32, "0"), "accepted", None, "ISA-WV-001", 84),
    ]


def _bigfte(world, paths: HubPaths, name: str = "bigfte") -> Path:
    """RW1's October staff in post with one implausible FTE: quarantined, releasable."""
    return _reseal(
        world,
        paths,
        world["packages"][("RW1", "staff_in_post", "2026-10")],
        lambda t: _set(_set(t, "fte", 2, 1.8), "contracted_hours", 2, 67.5),
        name,
    )


def test_a_release_refused_moves_the_package_to_refused_and_discard_deletes_it(world, tmp_path):
    """The agreement is suspended while the hub checks with the trust: the release is refused,
    the package file moves with its record to refused/, and discard deletes it."""
    from pipelines.hub.quarantine import discard, list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    drop(paths, _bigfte(world, paths))
    run(paths)
    [q] = list_quarantined(paths)
    assert q.releasable and q.package == paths.quarantine / "RW1" / "bigfte.owfpkg"
    # A refused package of the same name is held already: the moved one must not replace it.
    (paths.refused / "RW1").mkdir(parents=True)
    (paths.refused / "RW1" / "bigfte.owfpkg").write_bytes(b"an earlier refused package")
    _agreement("ISA-WV-001", status="suspended")(paths.governance)
    with pytest.raises(
        OwfError, match=r"refused \(agreement_suspended\)\. The package is now held"
    ):
        release(paths, q.submission_id, "confirmed with RW1", "tester")
    [q2] = list_quarantined(paths)
    assert q2.status == "refused" and q2.package.parent == paths.refused / "RW1"
    assert q2.package.name == f"bigfte-{q2.receipt['package_sha256'][:12]}.owfpkg"
    assert q2.package.exists() and not q.package.exists()
    assert q2.receipt["status"] == "refused"
    discard(paths, q2.submission_id, "agreement suspended; RW1 will resubmit", "tester")
    assert not q2.package.exists()
    assert (paths.refused / "RW1" / "bigfte.owfpkg").read_bytes() == b"an earlier refused package"
    assert [r[3] for r in submissions(paths)] == ["discarded"]


def test_a_discard_waiting_while_the_submission_is_released_changes_nothing(
    world, tmp_path, monkeypatch
):
    """Found in review: discard read the status before it took the warehouse and updated the
    record without looking again, so a release landing in between was overwritten: the
    accepted submission became `discarded`, its rows left in raw, out of every publication
    and never purged. The release here lands at the moment discard has found the record
    and is about to take the warehouse (as another operator's command would)."""
    from pipelines.hub import quarantine
    from pipelines.hub.quarantine import discard, list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    drop(paths, _bigfte(world, paths))
    run(paths)
    [q] = list_quarantined(paths)
    real = quarantine.load_standard

    def released_meanwhile():
        monkeypatch.setattr(quarantine, "load_standard", real)
        assert release(paths, q.submission_id, "RW1 confirmed the FTE", "other") == "accepted"
        return real()

    monkeypatch.setattr(quarantine, "load_standard", released_meanwhile)
    receipt = paths.receipts / "RW1" / f"{q.submission_id}.json"
    with pytest.raises(OwfError, match="no longer held as quarantined: it became accepted"):
        discard(paths, q.submission_id, "RW1 will resubmit", "tester")
    assert [r[3] for r in submissions(paths)] == ["accepted"]
    assert json.loads(receipt.read_text())["status"] == "accepted"
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchone()[0] > 0
        assert not wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'discarded'"
        ).fetchone()[0]


def test_a_release_waiting_while_another_command_releases_it_says_so(world, tmp_path, monkeypatch):
    """Found in review: two operators releasing the same package at once, the second got a
    Python trace (its ingestion found the package gone). It now says another command dealt
    with the submission and what it is now, and changes nothing."""
    from pipelines.hub import quarantine
    from pipelines.hub.quarantine import list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    drop(paths, _bigfte(world, paths))
    run(paths)
    [q] = list_quarantined(paths)
    real = quarantine.ingest

    def released_meanwhile(*args, **kwargs):
        monkeypatch.setattr(quarantine, "ingest", real)
        assert release(paths, q.submission_id, "RW1 confirmed the FTE", "other") == "accepted"
        return real(*args, **kwargs)

    monkeypatch.setattr(quarantine, "ingest", released_meanwhile)
    events = _newest_seq(paths)
    with pytest.raises(OwfError, match="dealt with by another command .* it is now accepted"):
        release(paths, q.submission_id, "RW1 confirmed the FTE too", "tester")
    assert [r[3] for r in submissions(paths)] == ["accepted"]
    with connect(paths, write=False) as wh:
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE seq > $s AND event = 'released'",
            {"s": events},
        ).fetchone() == (1,)


def test_discard_of_a_held_package_whose_file_is_missing_changes_nothing(world, tmp_path):
    from pipelines.hub.quarantine import discard, list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    drop(paths, _bigfte(world, paths))
    run(paths)
    [q] = list_quarantined(paths)
    moved = paths.refused / "RW1" / q.package.name  # as a decision cut short would leave it
    moved.parent.mkdir(parents=True)
    q.package.rename(moved)
    events = _newest_seq(paths)
    with pytest.raises(OwfError, match="there is no such file.*Nothing was changed.*move it to"):
        discard(paths, q.submission_id, "RW1 will resubmit", "tester")
    with pytest.raises(OwfError, match="release must land it.*Nothing was changed.*release again"):
        release(paths, q.submission_id, "RW1 confirmed the FTE", "tester")
    # The list says the file is missing instead of offering a release that cannot work.
    listed = owf_quarantine(paths, "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [x for x in listed.stdout.splitlines() if x.startswith(q.submission_id)]
    assert "package file missing" in line and "releasable" not in line, line
    assert [r[3] for r in submissions(paths)] == ["quarantined"] and moved.exists()
    assert _newest_seq(paths) == events
    moved.unlink()  # lost for good
    with pytest.raises(OwfError, match="--file-gone"):
        discard(paths, q.submission_id, "RW1 will resubmit", "tester")
    discard(paths, q.submission_id, "RW1 will resubmit; file lost", "tester", file_gone=True)
    assert [r[3] for r in submissions(paths)] == ["discarded"]
    with connect(paths, write=False) as wh:
        (detail,) = wh.execute(
            "SELECT detail FROM audit.events WHERE event = 'discarded'"
        ).fetchone()
    assert json.loads(detail)["file_gone"] == str(q.package)


def _copy_row(table: pa.Table, columns: list[str], src: int, dst: int) -> pa.Table:
    for c in columns:
        table = _set(table, c, dst, table.column(c)[src].as_py())
    return table


def _outcomes(paths: HubPaths) -> list[tuple]:
    """Every decision and every finding of a hub, independent of how it was reached."""
    found = []
    for path in sorted(paths.receipts.rglob("*.json")):
        r = json.loads(path.read_text())
        found += [(r["status"], f["row"], f["field"], f["rule"]) for f in r.get("findings", [])]
    return [s[:6] for s in submissions(paths)] + sorted(found, key=str)


def test_batching_submissions_changes_no_outcome(world, tmp_path, monkeypatch):
    """Validation runs over batches of whole submissions (memory at national scale): one
    submission per batch must decide exactly what one batch for everything decides."""
    import pipelines.hub.ingest as ingest_module

    outcomes = []
    for batch_rows in (10**9, 1):
        monkeypatch.setattr(ingest_module, "BATCH_ROWS", batch_rows)
        base = tmp_path / f"rows-{batch_rows}"
        base.mkdir()
        paths = fresh_hub(world, base)
        bad = _reseal(
            world,
            paths,
            world["packages"][("RW1", "staff_in_post", "2026-10")],
            lambda t: _set(t, "gender", 4, "Q"),
            "badgender",
        )
        dup = _reseal(
            world,
            paths,
            world["packages"][("RW1", "staff_in_post", "2026-09")],
            lambda t: _copy_row(t, ["person_id", "assignment_id"], 2, 3),
            "dupkey",
        )
        others = [
            pkg
            for (org, extract, _), pkg in world["packages"].items()
            if org != "RW1" and extract in ("staff_in_post", "leavers")
        ]
        drop(paths, bad, dup, *others)
        run(paths)
        outcomes.append(_outcomes(paths))
    whole, one_by_one = outcomes
    assert one_by_one == whole
    statuses = [s[3] for s in whole if len(s) == 6]
    assert statuses.count("quarantined") == 2 and statuses.count("accepted") == len(others)
    assert ("quarantined", 6, "gender", "codelist") in whole
    assert any(f[0] == "quarantined" and f[1] == 5 for f in whole if len(f) == 4), whole


# Supersede and duplicates ----------------------------------------------------------------


def test_resubmission_supersedes_and_the_same_package_twice_is_a_no_op(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    first = world["packages"][("RW1", "vacancies", "2026-10")]
    drop(paths, first)
    run(paths)
    second = _reseal(world, paths, first, lambda t: t, "resubmitted")
    drop(paths, second)
    run(paths)
    rows = {r[6][:11]: r[3] for r in submissions(paths)}
    assert sorted(rows.values()) == ["accepted", "superseded"]
    assert rows["resubmitted"] == "accepted"
    with connect(paths, write=False) as wh:
        # Nothing is deleted: the superseded submission's rows stay, marked by their status.
        assert wh.execute("SELECT count(DISTINCT submission_id) FROM raw.vacancies").fetchall() == [
            (2,)
        ]
        before = wh.execute("SELECT count(*) FROM raw.vacancies").fetchall()
    drop(paths, second)  # the same package again
    run(paths)
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.vacancies").fetchall() == before
        assert wh.execute("SELECT count(*) FROM raw.submissions").fetchall() == [(2,)]
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'duplicate'"
        ).fetchall() == [(1,)]
    assert not (paths.inbox / second.name).exists()


def test_the_same_package_twice_in_one_run_names_the_copy_on_record(world, tmp_path):
    """A package dropped twice under two names: the second copy's receipt and audit note
    named its own id (one nothing is recorded under) as 'already received'."""
    paths = fresh_hub(world, tmp_path)
    package = world["packages"][("RW1", "vacancies", "2026-10")]
    drop(paths, package)
    shutil.copyfile(package, paths.inbox / f"copy-{package.name}")
    run(paths, periods=["2026-10"])
    [(sid, status)] = [(r[6], r[3]) for r in submissions(paths)]
    assert status == "accepted"
    with connect(paths, write=False) as wh:
        [(note,)] = wh.execute(
            "SELECT json_extract_string(detail, '$.note') FROM audit.events"
            " WHERE event = 'duplicate'"
        ).fetchall()
    assert note == f"the same package was already received (submission {sid}, in this run)"


def test_a_full_disk_while_landing_names_the_cause_and_records_nothing(
    world, tmp_path, monkeypatch
):
    """The disk full while landing: the only message was DuckDB's "cannot rollback - no
    transaction is active" (the failed write had ended the transaction), not the cause."""
    from pipelines.hub import ingest as ingest_module

    paths = fresh_hub(world, tmp_path)
    [file] = drop(paths, world["packages"][("RW1", "vacancies", "2026-10")])

    def full(wh, landing):
        raise duckdb.IOException("IO Error: Could not write file: No space left on device")

    monkeypatch.setattr(ingest_module, "_insert_rows", full)
    with pytest.raises(OwfError, match="No space left on device.*free space.*Nothing of this"):
        ingest_module.ingest(paths)
    assert submissions(paths) == [] and file.exists()
    assert not list(paths.filing.glob("*.json")) and not list(paths.receipts.rglob("*.json"))


def test_rollback_after_duckdb_ended_the_transaction_keeps_the_first_error(tmp_path):
    from pipelines.hub.warehouse import rollback

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("BEGIN TRANSACTION")
    con.execute("ROLLBACK")  # as DuckDB does itself after a failed write
    rollback(con)  # "no transaction is active" must not replace the error being raised


def _by_file(paths: HubPaths) -> dict:
    with connect(paths, write=False) as wh:
        return {
            f: (status, reason)
            for f, status, reason in wh.execute(
                "SELECT package_file, status, status_reason FROM raw.submissions"
            ).fetchall()
        }


def _at(when: dt.datetime, **delta) -> str:
    return (when + dt.timedelta(**delta)).isoformat(timespec="seconds")


def test_a_package_dated_after_its_arrival_or_not_dated_is_refused(world, tmp_path):
    """Found in review: a package whose created_at was a year ahead (a wrong clock, or a
    manifest written by hand and signed) stayed current over every correction sent after
    it, each landing superseded as "made earlier"; 'yesterday' sorted after '2026-...'. Such
    packages are refused, naming the field and what to do, and the correction lands."""
    paths = fresh_hub(world, tmp_path)
    first = world["packages"][("RW1", "vacancies", "2026-10")]
    now = dt.datetime.now(dt.UTC)
    ahead = _reseal(world, paths, first, lambda t: t, "ahead", _at(now, days=300))
    words = _reseal(world, paths, first, lambda t: t, "words", "yesterday")
    naive = _reseal(world, paths, first, lambda t: t, "naive", "2026-11-01T09:00:00")
    # Found in re-review: a time at the calendar's edge overflowed when put in UTC and
    # stopped every run for every organisation.
    edge = _reseal(world, paths, first, lambda t: t, "edge", "9999-12-31T23:00:00-05:00")
    skewed = _reseal(world, paths, first, lambda t: t, "skewed", _at(now, minutes=20))
    # Made half an hour ago on a machine at UTC+05:00: its local time is after the arrival,
    # the moment is not.
    east = dt.timezone(dt.timedelta(hours=5))
    offset = _reseal(
        world, paths, first, lambda t: t, "offset", _at(now.astimezone(east), minutes=-30)
    )
    drop(paths, ahead, words, naive, offset, edge)
    run(paths)
    assert _by_file(paths) == {
        "ahead.owfpkg": ("refused", "created_after_arrival"),
        "words.owfpkg": ("refused", "bad_manifest"),
        "naive.owfpkg": ("refused", "bad_manifest"),
        "edge.owfpkg": ("refused", "bad_manifest"),
        "offset.owfpkg": ("accepted", None),
    }
    [finding] = [
        f
        for r in (paths.receipts / "RW1").glob("*.json")
        for f in json.loads(r.read_text()).get("findings", [])
        if f.get("file") == "ahead.owfpkg"
    ]
    assert finding["field"] == "created_at" and "clock" in finding["message"]
    assert "prepare the package again" in finding["message"]
    # A clock a few minutes fast is not refused; the correction made after it supersedes it.
    drop(paths, skewed)
    run(paths)
    correction = _reseal(world, paths, first, lambda t: t, "fixed", _at(now, minutes=30))
    drop(paths, correction)
    run(paths)
    rows = _by_file(paths)
    assert rows["skewed.owfpkg"] == ("superseded", None) and rows["fixed.owfpkg"][0] == "accepted"
    assert rows["offset.owfpkg"] == ("superseded", None)


def test_a_package_made_under_another_system_key_is_refused(world, tmp_path):
    """An organisation that pseudonymised under a key of its own (it ran `owf keys generate
    system` itself, or kept an old copy) sent people the hub can never link with anyone
    else's, nor with its own earlier months: every system-level count would hold them twice
    and its turnover would show everyone leaving. Such packages were accepted. The registry
    now holds the system key's check value: the tool refuses to package under another key,
    and the hub refuses a package made so (by a tool given an old registry) or made by an
    older tool that does not say which key it used."""
    from pipelines.crypto.pseudonymise import system_key_check
    from pipelines.hub.ingest import ingest
    from pipelines.submission.prepare import key_paths, run_submission

    paths = fresh_hub(world, tmp_path)
    registered = yaml.safe_load((paths.governance / "organisations.yaml").read_text())
    system = kf.load_symmetric_key(
        world["base"] / "system" / "system-pseudonymisation.key", kf.SYSTEM_KEY
    )
    assert registered["system"]["system_keys"] == [
        {"epoch": 1, "check": system_key_check(system.key)}
    ]
    own = tmp_path / "own" / "system-pseudonymisation.key"
    kf.write_symmetric_key(own, kf.generate_symmetric_key(kf.SYSTEM_KEY, 1))
    old_registry = tmp_path / "old-registry"
    shutil.copytree(paths.governance, old_registry)
    edit_yaml(old_registry / "organisations.yaml", lambda d: d["system"].pop("system_keys"))

    def prepare(governance: Path, out: Path):
        return run_submission(
            world["synth"].extracts_dir / "SC101" / "vacancies_SC101_2026-10.csv",
            org="SC101",
            extract="vacancies",
            period="2026-10",
            governance=governance,
            out_dir=out,
            key_paths_=key_paths(world["layout"].org_keys("SC101"), "SC101", None, own, None),
        )

    at_source = prepare(paths.governance, tmp_path / "refused-out")
    assert not at_source.ok and at_source.package_path is None
    [finding] = [f for f in at_source.findings if f.severity == "error"]
    assert finding.rule == "wrong_system_key", finding
    assert "is not the system's key of epoch 1" in finding.message
    assert "Nothing was packaged" in finding.message
    assert not list((tmp_path / "refused-out").glob("*.owfpkg"))

    made = prepare(old_registry, tmp_path / "out")
    assert made.ok, made.findings
    older_tool = _reseal(
        world,
        paths,
        world["packages"][("RW1", "vacancies", "2026-10")],
        lambda t: t,
        "older-tool",
        without=("system_key_check",),
    )
    good = world["packages"][("RW1", "staff_in_post", "2026-10")]
    drop(paths, made.package_path, older_tool, good)
    result = ingest(paths)
    by_file = {p.path.name: p for p in result.outcomes}
    assert (by_file[made.package_path.name].status, by_file[made.package_path.name].reason) == (
        "refused",
        "wrong_system_key",
    )
    [why] = by_file[made.package_path.name].reasons
    assert why.field == "system_key_check" and "never be linked" in why.message
    assert "Prepare the package again" in why.message
    assert by_file["older-tool.owfpkg"].reason == "wrong_system_key"
    assert (
        "an older `owf submit prepare` made it" in by_file["older-tool.owfpkg"].reasons[0].message
    )
    assert by_file[good.name].status == "accepted"
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.vacancies").fetchone()[0] == 0

    # A hub whose registry lists no system key (set up before the check) takes them as before.
    (tmp_path / "before").mkdir()
    before = fresh_hub(
        world,
        tmp_path / "before",
        lambda gov: edit_yaml(gov / "organisations.yaml", lambda d: d["system"].pop("system_keys")),
    )
    drop(before, made.package_path, older_tool)
    assert {p.status for p in ingest(before).outcomes} == {"accepted"}


def test_packages_for_one_month_in_one_run_leave_the_latest_made_current(world, tmp_path):
    """Two packages for the same organisation, extract and month land in one run (one
    landing transaction): the one made later is current and supersedes the other. A package
    made before it that arrives in a later run is kept, superseded on arrival."""
    paths = fresh_hub(world, tmp_path)
    first = world["packages"][("RW1", "vacancies", "2026-10")]
    made = dt.datetime.fromisoformat(read_package(first.read_bytes()).manifest["created_at"])
    # Later than `first`, and not after their arrival (created_after_arrival).
    later = _reseal(world, paths, first, lambda t: t, "later", _at(made, minutes=50))
    between = _reseal(world, paths, first, lambda t: t, "between", _at(made, minutes=40))
    drop(paths, later, first)  # inbox order is not the order they were made in
    run(paths)
    drop(paths, between)
    run(paths)
    with connect(paths, write=False) as wh:
        rows = wh.execute(
            "SELECT s.package_file, s.status, t.package_file FROM raw.submissions s"
            " LEFT JOIN raw.submissions t ON t.submission_id = s.superseded_by ORDER BY ALL"
        ).fetchall()
        events = wh.execute(
            "SELECT s.package_file, e.event FROM audit.events e JOIN raw.submissions s"
            " USING (submission_id) WHERE e.event IN ('accepted', 'superseded') ORDER BY e.seq"
        ).fetchall()
    assert {r[0]: r[1:] for r in rows} == {
        "between.owfpkg": ("superseded", "later.owfpkg"),
        first.name: ("superseded", "later.owfpkg"),
        "later.owfpkg": ("accepted", None),
    }
    assert events == [
        (first.name, "accepted"),
        (first.name, "superseded"),
        ("later.owfpkg", "accepted"),
        ("between.owfpkg", "accepted"),
        ("between.owfpkg", "superseded"),
    ]


# Concurrency and crashes -----------------------------------------------------------------

RUNNER = """
import sys, dagster as dg
from pipelines.defs.ingest import ingest_submissions
from pipelines.defs.resources import HubResource
root, period, pkgs = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = {"ops": {"ingest_submissions": {"config": {"packages": pkgs}}}} if pkgs else None
r = dg.materialize([ingest_submissions], resources={"hub": HubResource(root=root)}, partition_key=period,
                   instance=dg.DagsterInstance.ephemeral(), run_config=cfg, raise_on_error=False)
sys.exit(0 if r.success else 1)
"""


def _spawn(paths: HubPaths, period: str, packages: list[Path], env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(paths.root), period, *map(str, packages)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_packages_arriving_at_once_both_land(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    a = drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])
    b = drop(paths, world["packages"][("SC101", "staff_in_post", "2026-10")])
    procs = [_spawn(paths, "2026-10", a), _spawn(paths, "2026-10", b)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-3000:]
    assert sorted((r[0], r[3]) for r in submissions(paths)) == [
        ("RW1", "accepted"),
        ("SC101", "accepted"),
    ]


def test_a_process_killed_mid_ingest_leaves_nothing_half_landed(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    files = drop(paths, *[p for k, p in world["packages"].items() if k[2] == "2026-10"])
    proc = _spawn(paths, "2026-10", [], env={"OWF_INGEST_PAUSE_SECONDS": "1.5"})
    deadline = time.time() + 300
    while time.time() < deadline and len(list(paths.receipts.rglob("*.json"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed = submissions(paths)
    assert 0 < len(landed) < len(files), "the kill should land between submissions"
    with connect(paths, write=False) as wh:
        for _org, extract, _period, _status, _, rows, sid in landed:
            n = wh.execute(
                f"SELECT count(*) FROM raw.{extract} WHERE submission_id = $s", {"s": sid}
            ).fetchall()[0][0]
            assert n == rows, f"{sid} half landed"
        orphans = wh.execute(
            "SELECT count(*) FROM raw.staff_in_post r ANTI JOIN raw.submissions s USING (submission_id)"
        ).fetchall()
        assert orphans == [(0,)]
    run(paths, periods=["2026-10"])  # the rerun completes it
    final = submissions(paths)
    assert len(final) == len(files) and {r[3] for r in final} == {"accepted"}
    assert not list(paths.inbox.glob("*.owfpkg"))


HOLDER = """
import sys, time
from pipelines.hub.home import HubPaths
from pipelines.hub.warehouse import connect
with connect(HubPaths.at(sys.argv[1]), write=sys.argv[2] == "write") as wh:
    wh.execute("SELECT count(*) FROM raw.submissions").fetchall()
    print("open", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _hold(paths: HubPaths, mode: str, seconds: float) -> subprocess.Popen:
    """Another process with the warehouse open, to read or to write, for `seconds`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(paths.root), mode, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "open", proc.stderr.read()
    return proc


def test_readers_wait_for_a_writer_and_a_writer_for_readers(world, tmp_path):
    """A reader (`owf hub status`, `quarantine list`, `audit verify`) opened the warehouse
    without the hub's lock: while an ingestion wrote, it failed with "open in another
    program" (the hub's own ingestion), and while it read, a concurrent ingestion failed the
    same way. Readers now share the lock, writers take it alone: each waits for the other."""
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])
    run(paths, periods=["2026-10"])

    writer = _hold(paths, "write", 2)
    told: list[str] = []
    with connect(paths, write=False, on_wait=told.append) as wh:
        assert wh.execute("SELECT count(*) FROM raw.submissions").fetchone()[0] == 1
    assert writer.wait(timeout=60) == 0, writer.stderr.read()
    assert len(told) == 1 and f"process {writer.pid} (" in told[0], told

    reader = _hold(paths, "read", 2)
    other = _hold(paths, "read", 0)  # readers read together
    assert other.wait(timeout=60) == 0
    drop(paths, world["packages"][("SC101", "staff_in_post", "2026-10")])
    run(paths, periods=["2026-10"])  # waits for the reader instead of failing
    assert reader.wait(timeout=60) == 0, reader.stderr.read()
    assert sorted(r[0] for r in submissions(paths)) == ["RW1", "SC101"]

    writer = _hold(paths, "write", 2)
    status = subprocess.run(
        [str(Path(sys.executable).parent / "owf"), "hub", "status", "--hub", str(paths.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    writer.wait(timeout=60)
    assert status.returncode == 0, status.stderr
    assert "waiting for the hub's process" in status.stderr and "SC101" in status.stdout

    # `owf hub ingest` and `owf publish` behind a writer say so too (found in review: 25-34 s
    # of silence behind an `owf publish`).
    drop(paths, world["packages"][("SC101", "vacancies", "2026-10")])
    owf = str(Path(sys.executable).parent / "owf")
    for command in (["hub", "ingest"], ["publish"]):
        writer = _hold(paths, "write", 8)  # longer than the command takes to start
        done = subprocess.run(
            [owf, *command, "--hub", str(paths.root)], capture_output=True, text=True, timeout=600
        )
        writer.wait(timeout=60)
        assert f"waiting for the hub's process {writer.pid}" in done.stderr, (command, done.stderr)
    assert ("SC101", "vacancies", "2026-10", "accepted") in [r[:4] for r in submissions(paths)]


def test_a_wait_inside_a_job_is_told_to_the_caller_and_in_the_run_log(world, tmp_path):
    """Found in review: `owf hub ingest` and `owf publish` say whom they wait for only when
    the warehouse is taken before they start; a writer that takes it after the command's own
    check (between its check and the job's step) was waited for in silence, on the terminal
    and in the run's log. Now the step logs a warning naming the writer, and whoever runs
    the job and listens (the command line, through telling_waits) is told too, once."""
    from pipelines.hub.warehouse import telling_waits

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])
    run(paths, periods=["2026-10"])
    drop(paths, world["packages"][("SC101", "staff_in_post", "2026-10")])
    instance = dg.DagsterInstance.ephemeral()
    told: list[str] = []
    writer = _hold(paths, "write", 2)
    with telling_waits(told.append), telling_waits(told.append):
        result = run(paths, periods=["2026-10"], instance=instance)
    assert writer.wait(timeout=60) == 0, writer.stderr.read()
    assert len(told) == 1 and f"process {writer.pid} (" in told[0], told
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "waiting for the hub's" in e.user_message
    ]
    assert len(warnings) == 1 and f"process {writer.pid} (" in warnings[0], warnings
    assert sorted(r[0] for r in submissions(paths)) == ["RW1", "SC101"]
    # Nobody listens once the job is over.
    writer = _hold(paths, "write", 1)
    with connect(paths, write=False):
        pass
    writer.wait(timeout=60)
    assert len(told) == 1


def _events(paths: HubPaths, event: str) -> int:
    with connect(paths, write=False) as wh:
        return wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = $e", {"e": event}
        ).fetchone()[0]


def test_a_run_stopped_after_its_commit_is_finished_by_the_next(world, tmp_path, monkeypatch):
    """A run that stops between committing its decisions and moving the files (a crash)
    left the packages in the inbox: the next run took them for duplicates of themselves,
    deleted the quarantined one (it could never be released) and gave the accepted one a
    'duplicate' receipt instead of its acceptance. The decisions' filing is journalled
    before the commit, and the next run finishes it first."""
    from pipelines.hub import ingest as ingest_module
    from pipelines.hub.quarantine import list_quarantined, release

    paths = fresh_hub(world, tmp_path)
    held, fine = drop(
        paths, _bigfte(world, paths), world["packages"][("SC101", "staff_in_post", "2026-10")]
    )

    def crash(journal):
        raise KeyboardInterrupt("killed after the commit")  # as a kill would stop it

    monkeypatch.setattr(ingest_module, "_apply_journal", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_module.ingest(paths)
    monkeypatch.undo()
    assert {r[0]: r[3] for r in submissions(paths)} == {"RW1": "quarantined", "SC101": "accepted"}
    assert held.exists() and fine.exists() and not list(paths.receipts.rglob("*.json"))
    assert list(paths.filing.glob("*.json"))

    result = run(paths, periods=["2026-10"])
    assert not list(paths.inbox.iterdir()) and not list(paths.filing.glob("*.json"))
    assert _events(paths, "duplicate") == 0
    # What `owf hub ingest` says of them (found in review: "taken by another run meanwhile").
    from pipelines.cli_hub import _this_run

    said = _this_run(result)
    assert "2 filed for an earlier run that stopped before filing them" in said, said
    assert "another run" not in said
    assert receipt(paths, "SC101", "accepted")["what_to_do"].startswith("Nothing: the submission")
    r = receipt(paths, "RW1", "quarantined")
    assert r["plausibility_only"] is True and r["findings"]
    [q] = list_quarantined(paths)
    assert q.package.exists() and q.releasable
    assert release(paths, q.submission_id, "RW1 confirmed the FTE", "tester") == "accepted"


def test_a_filing_journal_that_cannot_be_read_is_named_and_changes_nothing(
    world, tmp_path, monkeypatch
):
    """Found in review: an empty or damaged filing journal (a power cut before it reached the
    disk; it is now synced before the commit) stopped every later ingestion with a JSON
    decoding trace. It is now an error naming the file and what to do, and nothing moves."""
    from pipelines.hub import ingest as ingest_module

    paths = fresh_hub(world, tmp_path)
    held, fine = drop(
        paths, _bigfte(world, paths), world["packages"][("SC101", "staff_in_post", "2026-10")]
    )

    def crash(journal):
        raise KeyboardInterrupt("killed after the commit")

    monkeypatch.setattr(ingest_module, "_apply_journal", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest_module.ingest(paths)
    monkeypatch.undo()
    [journal] = paths.filing.glob("*.json")
    for damaged in ("", '{"entries": []}', "[1, 2]"):
        journal.write_text(damaged)
        events = _newest_seq(paths)
        with pytest.raises(OwfError) as caught:
            ingest_module.ingest(paths)
        message = str(caught.value)
        assert str(journal) in message and "Nothing was changed" in message, message
        assert "Restore the file from a backup" in message
        assert held.exists() and fine.exists() and journal.exists()
        assert _newest_seq(paths) == events
    assert {r[0]: r[3] for r in submissions(paths)} == {"RW1": "quarantined", "SC101": "accepted"}


def test_a_folder_ingestion_cannot_write_is_named_and_the_next_run_files_the_package(
    world, tmp_path
):
    """quarantine/RW1 is a file: the decision is recorded, the move fails. That was a bare
    traceback, and the next run deleted the package as a duplicate. Now a message says what
    to fix, and the run after that files the package where its record says."""
    from pipelines.hub.ingest import ingest
    from pipelines.hub.quarantine import list_quarantined

    paths = fresh_hub(world, tmp_path)
    (paths.quarantine / "RW1").write_text("in the way")
    [held] = drop(paths, _bigfte(world, paths))
    with pytest.raises(OwfError, match=r"is recorded, but its file.*run the ingestion again"):
        ingest(paths)
    assert held.exists() and [r[3] for r in submissions(paths)] == ["quarantined"]
    (paths.quarantine / "RW1").unlink()
    ingest(paths)
    [q] = list_quarantined(paths)
    assert q.package.exists() and q.releasable and not held.exists()
    assert _events(paths, "duplicate") == 0


def test_a_failure_while_landing_rolls_back_the_whole_chunk(world, tmp_path, monkeypatch):
    """Packages land a chunk per transaction: a failure on the second package of a chunk
    leaves none of the chunk's decisions, rows or receipts, and the files in the inbox."""
    from pipelines.hub import ingest as ingest_module

    paths = fresh_hub(world, tmp_path)
    files = drop(
        paths,
        *[p for k, p in world["packages"].items() if k[1] == "staff_in_post" and k[2] == "2026-10"],
    )
    assert len(files) >= 2
    record = ingest_module._record_submission
    calls = []

    def fail_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full (simulated)")
        return record(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_record_submission", fail_on_the_second)
    with pytest.raises(RuntimeError, match="simulated"):
        ingest_module.ingest(paths)
    monkeypatch.undo()
    assert submissions(paths) == []
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchall() == [(0,)]
        assert audit.verify(wh)[1] == []
    assert sorted(paths.inbox.glob("*.owfpkg")) == sorted(files)
    assert not list(paths.receipts.rglob("*.json"))
    run(paths, periods=["2026-10"])  # the rerun lands them all
    assert {r[3] for r in submissions(paths)} == {"accepted"}
    assert len(submissions(paths)) == len(files)


def test_landing_chunks_are_whole_packages_up_to_the_landing_bound(monkeypatch):
    """A national month's extract type lands in one transaction (committing it in pieces made
    DuckDB rewrite it at the checkpoint); a larger one splits between packages, never inside
    one, and packages landing no rows count for none."""
    from types import SimpleNamespace

    from pipelines.hub import ingest as ingest_module

    def package(rows: int, status: str = "accepted"):
        return SimpleNamespace(table=pa.table({"x": pa.nulls(rows)}), status=status)

    national = [package(6_850) for _ in range(220)]  # 1,507,000 staff in post
    assert [len(c) for c in ingest_module._landing_chunks(national)] == [220]

    monkeypatch.setattr(ingest_module, "LANDING_ROWS", 10)
    a, b, c, big, refused, d = (
        package(4),
        package(4),
        package(4),
        package(15),
        package(50, "quarantined"),
        package(6),
    )
    gone = SimpleNamespace(table=None, status="accepted")  # released: lands nothing
    chunks = list(ingest_module._landing_chunks([a, b, c, big, refused, gone, d]))
    assert chunks == [[a, b], [c], [big], [refused, gone, d]]


def test_a_chunk_s_rows_land_in_order_with_each_package_s_own_columns(tmp_path):
    """Rows are inserted a run of like packages at a time (one INSERT, not one per package):
    every row lands once, in package order, and a package without a column (its agreement
    does not permit the field) lands NULL there, as a package inserted alone would."""
    from pipelines.hub.ingest import _insert_rows
    from pipelines.hub.warehouse import ensure_schema
    from pipelines.standard import load_standard

    def package(sid: str, n: int, gender: bool) -> tuple[str, pa.Table]:
        cols = {
            "submission_id": [sid] * n,
            "payload_row": list(range(1, n + 1)),
            "key_epoch": pa.array([1] * n, pa.int32()),
            "hub_key_epoch": pa.array([1] * n, pa.int32()),
            "org_code": ["RW1"] * n,
            "person_id": [f"{sid}{i}" for i in range(n)],
        }
        if gender:
            cols["gender"] = ["F"] * n
        return "staff_in_post", pa.table(cols)

    landing = [package("a", 2, True), package("b", 3, True), package("c", 1, False)]
    landing += [package("d", 2, True), ("leavers", package("e", 1, False)[1])]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_schema(con, load_standard())
        _insert_rows(con, landing)
        rows = con.execute(
            "SELECT submission_id, payload_row, person_id, gender FROM raw.staff_in_post"
            " ORDER BY rowid"
        ).fetchall()
        leavers = con.execute("SELECT submission_id, person_id FROM raw.leavers").fetchall()
    assert rows == [
        ("a", 1, "a0", "F"),
        ("a", 2, "a1", "F"),
        ("b", 1, "b0", "F"),
        ("b", 2, "b1", "F"),
        ("b", 3, "b2", "F"),
        ("c", 1, "c0", None),
        ("d", 1, "d0", "F"),
        ("d", 2, "d1", "F"),
    ]
    assert leavers == [("e", "e0")]


def test_many_small_packages_land_in_whole_row_groups_in_their_order(tmp_path):
    """30 packages of 5,000 rows (a month's small organisations) fill DuckDB's row groups
    whole, not with whole packages (23 of them, 115,000 rows, and then a next small append
    made a checkpoint rewrite the lot), and every row keeps its place."""
    from pipelines.hub.ingest import ROW_GROUP_ROWS, _insert_rows
    from pipelines.hub.warehouse import ensure_schema
    from pipelines.standard import load_standard

    n = 5_000
    landing = [
        (
            "staff_in_post",
            pa.table(
                {
                    "submission_id": pa.repeat(pa.scalar(f"s{k:02d}"), n),
                    "payload_row": pa.array(range(1, n + 1), pa.int64()),
                    "key_epoch": pa.repeat(pa.scalar(1, pa.int32()), n),
                    "hub_key_epoch": pa.repeat(pa.scalar(1, pa.int32()), n),
                }
            ),
        )
        for k in range(30)
    ]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_schema(con, load_standard())
        con.execute("BEGIN TRANSACTION")
        _insert_rows(con, landing)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        groups = con.execute(
            "SELECT row_group_id, max(count) FROM pragma_storage_info('raw.staff_in_post')"
            " GROUP BY row_group_id ORDER BY row_group_id"
        ).fetchall()
        out_of_place = con.execute(
            "SELECT count(*) FROM (SELECT submission_id, payload_row,"
            " row_number() OVER (ORDER BY rowid) AS i FROM raw.staff_in_post)"
            " WHERE (i - 1) // $n <> CAST(substr(submission_id, 2) AS INTEGER)"
            " OR (i - 1) % $n + 1 <> payload_row",
            {"n": n},
        ).fetchall()
    assert ROW_GROUP_ROWS == 122_880
    assert [count for _, count in groups] == [ROW_GROUP_ROWS, 30 * n - ROW_GROUP_ROWS]
    assert out_of_place == [(0,)]


# Nothing of stage 1 at rest --------------------------------------------------------------


def test_no_stage1_token_or_decrypted_payload_remains_on_the_hub(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    drop(paths, *world["packages"].values())
    run(paths)
    system_key = kf.load_symmetric_key(
        world["base"] / "system" / "system-pseudonymisation.key", kf.SYSTEM_KEY
    )
    con = duckdb.connect()
    nis = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT person_id FROM read_csv(?, all_varchar = true)",
            [str(world["synth"].extracts_dir / "*" / "staff_in_post_*.csv")],
        ).fetchall()
    }
    tokens = {person_pseudonym(system_key.key, ni) for ni in nis}
    assert len(tokens) > 1000
    # In the database: no column of any table holds a stage-1 token.
    with connect(paths, write=False) as wh:
        for schema, table, column in wh.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE data_type = 'VARCHAR'"
        ).fetchall():
            values = {
                r[0]
                for r in wh.execute(
                    f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"'
                ).fetchall()
            }
            assert not values & tokens, f"stage-1 token in {schema}.{table}.{column}"
    # On disk: no file under the hub holds one, or a Parquet payload.
    blobs = [p.read_bytes() for p in paths.root.rglob("*") if p.is_file()]
    sample = list(tokens)[:300]
    for blob in blobs:
        assert b"PAR1" not in blob[:4]
        for t in sample:
            assert t.encode() not in blob


# The audit log ---------------------------------------------------------------------------


@pytest.fixture
def audited(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    drop(paths, *[p for k, p in world["packages"].items() if k[0] == "SC101"])
    run(paths)
    return paths


def test_batched_events_chain_like_single_appends_and_a_rollback_leaves_no_trace(tmp_path):
    from pipelines.hub.warehouse import ensure_schema
    from pipelines.standard import load_standard

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con, load_standard())
    audit.append(con, "received", submission_id="s0")  # one event, its own batch
    con.execute("BEGIN TRANSACTION")
    batch = audit.Batch(con)
    batch.append("received", submission_id="s1", org_code="RW1")
    batch.append("accepted", submission_id="s1", detail={"rows": 3})
    batch.flush()
    con.execute("COMMIT")
    committed = batch.head
    con.execute("BEGIN TRANSACTION")
    lost = audit.Batch(con, committed)
    lost.append("received", submission_id="s2")
    lost.flush()
    con.execute("ROLLBACK")
    con.execute("BEGIN TRANSACTION")
    again = audit.Batch(con, committed)  # continues from the committed head, not the lost one
    again.append("duplicate", submission_id="s2")
    again.flush()
    con.execute("COMMIT")
    rows = con.execute("SELECT seq, event, submission_id FROM audit.events ORDER BY seq").fetchall()
    assert rows == [
        (1, "received", "s0"),
        (2, "received", "s1"),
        (3, "accepted", "s1"),
        (4, "duplicate", "s2"),
    ]
    checked, problems = audit.verify(con, {"seq": 4, "hash": again.head[1]})
    assert checked == 4 and problems == []
    assert audit.head(con) == again.head
    with pytest.raises(ValueError, match="unknown audit event"):
        audit.Batch(con).append("renamed")


def owf_audit_verify(paths: HubPaths):
    owf = str(Path(sys.executable).parent / "owf")
    return subprocess.run(
        [owf, "audit", "verify", "--hub", str(paths.root)], capture_output=True, text=True
    )


def test_audit_verify_passes_on_a_clean_log(audited):
    r = owf_audit_verify(audited)
    assert r.returncode == 0 and "intact" in r.stdout


def _tamper(paths: HubPaths, sql: str) -> None:
    con = duckdb.connect(str(paths.warehouse))
    con.execute(sql)
    con.close()


def test_audit_verify_names_an_edited_row(audited):
    _tamper(
        audited, 'UPDATE audit.events SET detail = \'{"reason": "nothing to see"}\' WHERE seq = 5'
    )
    r = owf_audit_verify(audited)
    assert r.returncode == 1 and "row 5 was edited" in r.stdout


def test_audit_verify_names_a_deleted_row(audited):
    _tamper(audited, "DELETE FROM audit.events WHERE seq = 7")
    r = owf_audit_verify(audited)
    assert r.returncode == 1 and "8" in r.stdout and "deleted" in r.stdout


def test_audit_verify_names_reordered_rows(audited):
    con = duckdb.connect(str(audited.warehouse))
    rows = {
        r[0]: r for r in con.execute("SELECT * FROM audit.events WHERE seq IN (3, 4)").fetchall()
    }
    # Swap rows 3 and 4, re-hashing each under its new number (the chain links are kept).
    con.execute("DELETE FROM audit.events WHERE seq IN (3, 4)")
    for new_seq, old in ((3, rows[4]), (4, rows[3])):
        _, at, event, actor, sid, org, ext, period, detail, prev, _ = old
        h = audit.row_hash(new_seq, at, event, actor, sid, org, ext, period, detail, prev)
        con.execute(
            "INSERT INTO audit.events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [new_seq, at, event, actor, sid, org, ext, period, detail, prev, h],
        )
    con.close()
    r = owf_audit_verify(audited)
    assert r.returncode == 1 and "rows 3 and 4 are out of order" in r.stdout


def test_audit_verify_detects_truncation_of_the_newest_rows(audited):
    with connect(audited, write=False) as wh:
        last = wh.execute("SELECT max(seq) FROM audit.events").fetchall()[0][0]
    _tamper(audited, f"DELETE FROM audit.events WHERE seq >= {last - 1}")
    r = owf_audit_verify(audited)
    assert r.returncode == 1 and "truncated" in r.stdout


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_audit_verify_fails_when_the_recorded_head_is_gone(audited, damage):
    """Without audit-head.json, deleting the newest rows leaves a chain that checks: a log
    with rows and no readable head fails, so the truncation cannot pass unseen."""
    with connect(audited, write=False) as wh:
        last = wh.execute("SELECT max(seq) FROM audit.events").fetchall()[0][0]
    if damage == "missing":
        audited.audit_head.unlink()
    else:
        audited.audit_head.write_text("garbage{")
    _tamper(audited, f"DELETE FROM audit.events WHERE seq >= {last - 1}")
    r = owf_audit_verify(audited)
    assert r.returncode == 1 and "(head_missing)" in r.stdout, r.stdout + r.stderr
    assert "audit-head.json is missing or unreadable" in r.stdout.replace(")", "").replace("(", "")


def test_a_lost_warehouse_is_not_silently_replaced_by_an_empty_one(world, audited):
    """Deleting (or moving) the warehouse of a hub that has landed submissions: ingestion
    refuses to start a new, empty one (which the next publication would have made latest),
    and status, verify and the quarantine commands say the file is missing, not that
    nothing was ingested or held."""
    head = audited.audit_head.read_text()
    audited.warehouse.rename(audited.warehouse.with_name("moved.duckdb"))
    drop(audited, *[p for k, p in world["packages"].items() if k[0] == "HS101"][:1])
    owf = str(Path(sys.executable).parent / "owf")
    # quarantine list and discard too (found in review: "no quarantined or refused
    # submissions" while refused/ held a package).
    for command in (
        ["hub", "ingest"],
        ["hub", "status"],
        ["audit", "verify"],
        ["publish"],
        ["quarantine", "list"],
        ["quarantine", "discard", "deadbeef", "--reason", "lost"],
    ):
        r = subprocess.run(
            [owf, *command, "--hub", str(audited.root)], capture_output=True, text=True
        )
        assert r.returncode != 0, (command, r.stdout)
        assert "is missing, but this hub has recorded" in r.stdout + r.stderr, (command, r)
        assert "Traceback" not in r.stderr
    assert not audited.warehouse.exists()
    assert audited.audit_head.read_text() == head
    assert list(audited.inbox.glob("*.owfpkg"))  # the package waits for the restored file
    # With the inbox empty too (found in review: "nothing to ingest", exit 0).
    for package in audited.inbox.glob("*.owfpkg"):
        package.unlink()
    r = subprocess.run(
        [owf, "hub", "ingest", "--hub", str(audited.root)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "is missing, but this hub has recorded" in r.stderr, r


def test_a_damaged_warehouse_is_named_with_what_to_do_not_a_trace(audited):
    """A warehouse cut short (a full disk, a partial copy) opens, then fails at its first
    read: the commands that read it say the file may be damaged and to restore it."""
    with audited.warehouse.open("r+b") as fh:
        fh.truncate(audited.warehouse.stat().st_size // 8)
    owf = str(Path(sys.executable).parent / "owf")
    for command in (["hub", "status"], ["audit", "verify"]):
        r = subprocess.run(
            [owf, *command, "--hub", str(audited.root)], capture_output=True, text=True
        )
        assert r.returncode != 0 and "Traceback" not in r.stderr, (command, r.stderr)
        assert "may be damaged" in r.stderr and "restore it" in r.stderr, (command, r.stderr)


def test_owf_hub_ingest_on_a_broken_registry_prints_the_message_not_dagster_s_trace(
    world, tmp_path
):
    """The step's error (a registry that is not valid YAML) came after forty lines of
    Dagster's stack trace; now it is the only thing printed, and the package waits."""
    paths = fresh_hub(world, tmp_path)
    [waiting] = drop(paths, world["packages"][("SC101", "vacancies", "2026-10")])
    with (paths.governance / "organisations.yaml").open("a") as fh:
        fh.write("organisations: [ {broken\n")
    owf = str(Path(sys.executable).parent / "owf")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    r = subprocess.run(
        [owf, "hub", "ingest", "--hub", str(paths.root)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: governance data in"), r.stderr
    # Named in full: the hub's governance folder is not the project's governance/.
    assert f"ERROR [yaml_syntax] {paths.governance / 'organisations.yaml'}" in r.stderr
    for trace in ("Stack Trace", "Traceback", "STEP_FAILURE", "dagster._core"):
        assert trace not in r.stdout + r.stderr, trace
    assert waiting.exists()


def test_owf_hub_ingest_says_what_this_run_did_before_the_hub_s_totals(world, tmp_path):
    """It printed only the table of everything the hub holds: a package refused, or one
    already ingested, was a number to find in it."""
    paths = fresh_hub(world, tmp_path)
    good = world["packages"][("SC101", "vacancies", "2026-10")]
    drop(paths, good, _forged(world, tmp_path))
    owf = str(Path(sys.executable).parent / "owf")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}

    def ingest_now():
        r = subprocess.run(
            [owf, "hub", "ingest", "--hub", str(paths.root)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout.splitlines()[0]

    assert ingest_now() == (
        "this run: 2 package(s): 1 accepted, 1 refused;"
        " `owf quarantine list` says why and what to do"
    )
    drop(paths, good)
    assert ingest_now() == "this run: 1 package(s): 1 already ingested (nothing recorded twice)"


def test_owf_hub_ingest_names_what_in_the_inbox_is_not_a_package(world, tmp_path):
    """A CSV dropped in the inbox, a package renamed to upper case and a folder were waited
    on in silence ("nothing to ingest"); a dotfile is a package still being written. What
    is named *.owfpkg but is no file (a folder, a broken link, a pipe) says so."""
    paths = fresh_hub(world, tmp_path)
    src = world["packages"][("SC101", "vacancies", "2026-10")]
    shutil.copyfile(src, paths.inbox / "SC101.OWFPKG")
    (paths.inbox / "staff.csv").write_text("org_code\n")
    (paths.inbox / "old.owfpkg").mkdir()
    (paths.inbox / ".partly-written.owfpkg").write_bytes(b"")
    # Named as packages but nothing a package can be read from (found in review: told
    # "only files named *.owfpkg are taken", which they are).
    (paths.inbox / "dangling.owfpkg").symlink_to(tmp_path / "gone.owfpkg")
    os.mkfifo(paths.inbox / "fifo.owfpkg")
    owf = str(Path(sys.executable).parent / "owf")
    r = subprocess.run(
        [owf, "hub", "ingest", "--hub", str(paths.root)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "nothing to ingest" in r.stdout
    assert "not ingested: 2 item(s)" in r.stdout and "SC101.OWFPKG, staff.csv." in r.stdout
    assert "3 item(s) in" in r.stdout and "named *.owfpkg are not files" in r.stdout
    assert "dangling.owfpkg (a link to a file that is not there)" in r.stdout
    assert "fifo.owfpkg (not a regular file" in r.stdout
    assert "old.owfpkg/ (a folder)" in r.stdout
    assert ".partly-written" not in r.stdout


def _write_aged(path: Path, data: bytes, seconds: float) -> None:
    path.write_bytes(data)
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_package_still_arriving_waits_in_the_inbox_and_one_stopped_short_is_refused(
    world, tmp_path
):
    """Left over from review: no file-age check. A transfer that writes the package in place
    (not a finished file renamed in) was caught half-way and refused as truncated at once.
    A file shorter than its header says, written in the last 15 minutes, now waits; written
    in full, it is ingested; still short after 15 minutes, it is refused as truncated."""
    paths = fresh_hub(world, tmp_path)
    whole = world["packages"][("SC101", "vacancies", "2026-10")].read_bytes()
    arriving = paths.inbox / "SC101_vacancies.owfpkg"
    arriving.write_bytes(whole[: len(whole) // 2])
    (paths.inbox / "SC101_empty.owfpkg").write_bytes(b"")
    owf = str(Path(sys.executable).parent / "owf")
    ingest_cmd = [owf, "hub", "ingest", "--hub", str(paths.root)]
    r = subprocess.run(ingest_cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "nothing to ingest" in r.stdout
    assert "still arriving: 2 package(s)" in r.stdout
    assert "SC101_vacancies.owfpkg (" in r.stdout and "SC101_empty.owfpkg (" in r.stdout
    assert "not ingested" not in r.stdout
    assert arriving.exists() and (paths.inbox / "SC101_empty.owfpkg").exists()
    assert not paths.warehouse.exists() or submissions(paths) == []
    assert not list(paths.refused.rglob("*.owfpkg"))
    # The transfer finishes: the next run takes it.
    arriving.write_bytes(whole)
    (paths.inbox / "SC101_empty.owfpkg").unlink()
    r = subprocess.run(ingest_cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [s[:4] for s in submissions(paths)] == [("SC101", "vacancies", "2026-10", "accepted")]
    assert "still arriving" not in r.stdout
    # One that stopped short 20 minutes ago is taken, and refused as truncated.
    other = world["packages"][("SC101", "staff_in_post", "2026-10")].read_bytes()
    _write_aged(paths.inbox / "SC101_sip.owfpkg", other[:5000], 20 * 60)
    r = subprocess.run(ingest_cmd, capture_output=True, text=True)
    assert "still arriving" not in r.stdout
    assert "1 refused" in r.stdout, r.stdout
    [refused] = [s for s in submissions(paths) if s[3] == "refused"]
    assert "truncated" in refused[4], refused


def test_identical_files_that_are_no_package_are_one_record_and_one_held_file(world, tmp_path):
    """Found in review: two identical files refused as they were read (an interrupted
    transfer sent twice, two empty files) shared one record and receipt; both moved to
    refused/, and the one the record did not name could never be discarded or purged. The
    second is now a duplicate of the first, in one run or a later one, and leaves the inbox."""
    from pipelines.hub.ingest import ingest
    from pipelines.hub.quarantine import discard, list_quarantined

    paths = fresh_hub(world, tmp_path)
    part = world["packages"][("RW1", "staff_in_post", "2026-10")].read_bytes()[:2000]
    # Interrupted an hour ago: no longer taken to be arriving (ingest.ARRIVING_SECONDS).
    for name in ("RW1_partial.owfpkg", "RW1_partial_retry.owfpkg"):
        _write_aged(paths.inbox / name, part, 3600)
    ingest(paths)
    _write_aged(paths.inbox / "RW1_partial_again.owfpkg", part, 3600)
    ingest(paths)
    [held] = list_quarantined(paths)
    assert held.status == "refused" and held.package.exists()
    assert sorted(f.name for f in (paths.refused / "_unknown").iterdir()) == [held.package.name]
    assert not list(paths.inbox.iterdir())
    with connect(paths, write=False) as wh:
        events = wh.execute(
            "SELECT event, count(*) FROM audit.events WHERE event IN ('refused', 'duplicate')"
            " GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    assert events == [("duplicate", 2), ("refused", 1)]
    discard(paths, held.submission_id, "transfer failed; sent again", "tester")
    assert not list((paths.refused / "_unknown").iterdir())


def test_a_held_file_is_never_written_over(world, tmp_path):
    """Found in re-review: the name a second x.owfpkg is held under (x-<12 hex of its
    SHA-256>.owfpkg) could be the name of a file held before, which it replaced; two records
    then named one file."""
    import hashlib

    from pipelines.hub.ingest import ingest

    paths = fresh_hub(world, tmp_path)
    third = b"not a package, third"
    taken = f"x-{hashlib.sha256(third).hexdigest()[:12]}.owfpkg"
    (paths.inbox / taken).write_bytes(b"not a package, first")
    (paths.inbox / "x.owfpkg").write_bytes(b"not a package, second")
    ingest(paths)
    (paths.inbox / "x.owfpkg").write_bytes(third)
    ingest(paths)
    held = {f.name: f.read_bytes() for f in (paths.refused / "_unknown").iterdir()}
    assert sorted(held.values()) == sorted(
        [b"not a package, first", b"not a package, second", third]
    )
    assert held[taken] == b"not a package, first"
    with connect(paths, write=False) as wh:
        files = [r[0] for r in wh.execute("SELECT package_file FROM raw.submissions").fetchall()]
    assert sorted(files) == sorted(held)


def test_a_long_file_name_held_twice_is_shortened_and_nothing_stops(world, tmp_path):
    """Found in review: a 248-character name already held got 13 characters more, past the
    file system's 255 bytes: every later run stopped on it ("File name too long"), a good
    package waited behind it, and `owf quarantine list` crashed."""
    from pipelines.hub.ingest import ingest
    from pipelines.hub.quarantine import discard, list_quarantined

    paths = fresh_hub(world, tmp_path)
    name = "L" * 248 + ".owfpkg"
    (paths.inbox / name).write_bytes(b"not a package, first")
    ingest(paths)
    (paths.inbox / name).write_bytes(b"not a package, second")
    good = drop(paths, world["packages"][("SC101", "vacancies", "2026-10")])
    ingest(paths)
    held = sorted(f.name for f in (paths.refused / "_unknown").iterdir())
    assert len(held) == 2 and name in held
    assert all(len(n.encode()) <= 255 and n.endswith(".owfpkg") for n in held)
    assert not list(paths.inbox.iterdir()) and not good[0].exists()
    assert ("SC101", "vacancies", "2026-10", "accepted") in [r[:4] for r in submissions(paths)]
    records = list_quarantined(paths)
    assert sorted(q.package.name for q in records) == held
    for q in records:
        discard(paths, q.submission_id, "not packages", "tester")
    assert not list((paths.refused / "_unknown").iterdir())
    owf = str(Path(sys.executable).parent / "owf")
    r = subprocess.run(
        [owf, "quarantine", "list", "--hub", str(paths.root)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def _newest_seq(paths: HubPaths) -> int:
    with connect(paths, write=False) as wh:
        return wh.execute("SELECT max(seq) FROM audit.events").fetchone()[0]


def _delete_newest_events(paths: HubPaths, n: int) -> list:
    """Delete the newest `n` audit rows (as someone covering tracks would); the problems
    `audit verify` then finds with the recorded head."""
    with connect(paths) as wh:
        wh.execute(
            "DELETE FROM audit.events WHERE seq > (SELECT max(seq) FROM audit.events) - $n",
            {"n": n},
        )
        return audit.verify(wh, audit.read_head(paths))[1]


def test_an_ingest_that_fails_midway_leaves_its_committed_events_under_the_head(
    world, tmp_path, monkeypatch
):
    """Chunks commit one by one: when a later chunk fails, the events of those committed
    before it are already covered by audit-head.json, so deleting them is detected."""
    from pipelines.hub import ingest as ingest_module

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths)
    drop(
        paths,
        world["packages"][("RW1", "vacancies", "2026-10")],
        world["packages"][("SC101", "vacancies", "2026-10")],
    )
    # One package a chunk (as with packages of about 250,000 rows each); the second fails.
    monkeypatch.setattr(ingest_module, "_landing_chunks", lambda items: ([p] for p in items))
    insert = ingest_module._insert_rows
    calls = []

    def disk_full_on_the_second(wh, landing):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return insert(wh, landing)

    monkeypatch.setattr(ingest_module, "_insert_rows", disk_full_on_the_second)
    with pytest.raises(OSError, match="simulated"):
        ingest_module.ingest(paths)
    assert audit.read_head(paths)["seq"] == _newest_seq(paths)
    problems = _delete_newest_events(paths, 3)  # the first chunk's acceptance
    assert [p.kind for p in problems] == ["truncated"]


def test_a_retention_run_that_fails_midway_leaves_its_committed_purges_under_the_head(
    world, tmp_path, monkeypatch
):
    from pipelines.hub import retention

    paths = fresh_hub(world, tmp_path, _agreement("ISA-WV-003", retention={"months": 1}))
    drop(
        paths,
        world["packages"][("SC101", "vacancies", "2026-09")],
        world["packages"][("SC101", "staff_in_post", "2026-09")],
    )
    run(paths)
    append = audit.append
    calls = []

    def fail_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return append(*args, **kwargs)

    monkeypatch.setattr(audit, "append", fail_on_the_second)
    with pytest.raises(OSError, match="simulated"):
        retention.purge_expired(paths, today=dt.date(2026, 11, 24))
    monkeypatch.undo()
    assert sorted(r[3] for r in submissions(paths)) == ["accepted", "purged"]
    assert audit.read_head(paths)["seq"] == _newest_seq(paths)
    assert [p.kind for p in _delete_newest_events(paths, 1)] == ["truncated"]


# Retention ---------------------------------------------------------------------------------


def test_retention_purges_past_the_agreement_period(world, tmp_path):
    from pipelines.hub.retention import purge_expired

    paths = fresh_hub(world, tmp_path, _agreement("ISA-WV-003", retention={"months": 1}))
    drop(
        paths,
        world["packages"][("SC101", "vacancies", "2026-09")],
        world["packages"][("RW1", "vacancies", "2026-09")],
    )
    run(paths)
    purged = purge_expired(paths, today=dt.date(2026, 11, 24))
    assert [(p.org_code, p.extract, p.period) for p in purged] == [
        ("SC101", "vacancies", "2026-09")
    ]
    statuses = {r[0]: r[3] for r in submissions(paths)}
    assert statuses == {"SC101": "purged", "RW1": "accepted"}
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT DISTINCT org_code FROM raw.vacancies").fetchall() == [("RW1",)]
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'purged'"
        ).fetchall() == [(1,)]
        assert audit.verify(wh, audit.read_head(paths))[1] == []


def _left_in_file(paths: HubPaths, values: list[str]) -> list[str]:
    """The values still readable anywhere in the warehouse file's bytes."""
    assert not paths.warehouse.with_name(paths.warehouse.name + ".wal").exists()
    data = paths.warehouse.read_bytes()
    return [v for v in values if v.encode() in data]


def _expiring_hub(world, tmp_path) -> tuple[HubPaths, list[str]]:
    """A hub with one staff-in-post month under a one-month retention; its pseudonyms."""
    paths = fresh_hub(world, tmp_path, _agreement("ISA-WV-003", retention={"months": 1}))
    drop(paths, world["packages"][("SC101", "staff_in_post", "2026-09")])
    run(paths)
    with connect(paths, write=False) as wh:
        ids = [
            r[0] for r in wh.execute("SELECT DISTINCT person_id FROM raw.staff_in_post").fetchall()
        ]
    assert len(ids) > 50 and not any(paths.root.glob("warehouse.duckdb.compacting*"))
    return paths, ids


def test_purged_pseudonyms_do_not_remain_in_the_warehouse_file(world, tmp_path):
    from pipelines.hub.retention import purge_expired

    paths, ids = _expiring_hub(world, tmp_path)
    assert len(_left_in_file(paths, ids)) == len(ids)  # the bytes test can see them
    assert len(purge_expired(paths, today=dt.date(2026, 11, 24))) == 1
    with connect(paths) as wh:
        assert wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchone() == (0,)
        wh.execute("CHECKPOINT")
    assert _left_in_file(paths, ids) == []
    assert not any(paths.root.glob("warehouse.duckdb.compacting*"))
    with connect(paths, write=False) as wh:
        events = [
            r[0] for r in wh.execute("SELECT event FROM audit.events ORDER BY seq").fetchall()
        ]
        assert events[-2:] == ["purged", "compacted"]
    r = owf_audit_verify(paths)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr
    # Nothing more to purge, nothing owed: the file is left alone.
    before = paths.warehouse.stat().st_ino
    assert purge_expired(paths, today=dt.date(2026, 11, 25)) == []
    assert paths.warehouse.stat().st_ino == before


def test_a_compaction_that_fails_leaves_the_warehouse_intact_and_is_done_next_run(
    world, tmp_path, monkeypatch
):
    from pipelines.hub import warehouse
    from pipelines.hub.retention import purge_expired

    paths, ids = _expiring_hub(world, tmp_path)
    with connect(paths, write=False) as wh:
        tables = wh.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL"
        ).fetchall()

    def fail(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warehouse.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        purge_expired(paths, today=dt.date(2026, 11, 24))
    monkeypatch.undo()
    # The purge committed; the old file is the warehouse, whole and usable; no copy is left.
    assert not any(paths.root.glob("warehouse.duckdb.compacting*"))
    assert submissions(paths)[0][3] == "purged"
    with connect(paths) as wh:
        assert (
            wh.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL"
            ).fetchall()
            == tables
        )
        assert wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchone() == (0,)
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'compacted'"
        ).fetchone() == (0,)
    assert owf_audit_verify(paths).returncode == 0
    assert _left_in_file(paths, ids)  # still owed ...
    # ... so the next run compacts although it purges nothing.
    assert purge_expired(paths, today=dt.date(2026, 11, 25)) == []
    assert _left_in_file(paths, ids) == []
    assert owf_audit_verify(paths).returncode == 0


KILLED_COMPACTION = """
import datetime as dt, os, signal, sys
from pipelines.hub import warehouse
from pipelines.hub.home import HubPaths
from pipelines.hub.retention import purge_expired

def killed(*_):  # the copy is written; killed before the rename
    os.kill(os.getpid(), signal.SIGKILL)

warehouse._check_copy = killed
purge_expired(HubPaths.at(sys.argv[1]), today=dt.date(2026, 11, 24))
"""


def test_a_process_killed_mid_compaction_leaves_a_working_warehouse(world, tmp_path):
    from pipelines.hub.retention import purge_expired

    paths, ids = _expiring_hub(world, tmp_path)
    r = subprocess.run([sys.executable, "-c", KILLED_COMPACTION, str(paths.root)], timeout=300)
    assert r.returncode == -signal.SIGKILL
    assert (paths.root / "warehouse.duckdb.compacting").exists()  # the partial copy
    # The old file is the warehouse, with the purge committed; the next writer clears the copy.
    assert submissions(paths)[0][3] == "purged"
    assert owf_audit_verify(paths).returncode == 0
    with connect(paths) as wh:
        assert wh.execute("SELECT count(*) FROM raw.staff_in_post").fetchone() == (0,)
    assert not any(paths.root.glob("warehouse.duckdb.compacting*"))
    assert _left_in_file(paths, ids)  # still owed: the next retention run compacts
    assert purge_expired(paths, today=dt.date(2026, 11, 25)) == []
    assert _left_in_file(paths, ids) == []
    assert owf_audit_verify(paths).returncode == 0


# Key rotation ----------------------------------------------------------------------------


def _people(paths: HubPaths, period: str) -> set[str]:
    with connect(paths, write=False) as wh:
        return {
            r[0]
            for r in wh.execute(
                "SELECT DISTINCT person_id FROM raw.staff_in_post WHERE period = $p", {"p": period}
            ).fetchall()
        }


def test_rotating_the_hub_key_rekeys_everything_and_keeps_people_linked(world, tmp_path):
    from pipelines.hub.rotation import archived_key_path, key_chain

    months = [world["packages"][("RW1", "staff_in_post", p)] for p in PERIODS]
    # The same two months without a rotation: how many people are in both.
    (tmp_path / "plain").mkdir()
    (tmp_path / "rotated").mkdir()
    plain = fresh_hub(world, tmp_path / "plain")
    drop(plain, *months)
    run(plain)
    linked = len(_people(plain, "2026-09") & _people(plain, "2026-10"))
    assert linked > 100

    paths = fresh_hub(world, tmp_path / "rotated")
    drop(paths, months[0])
    run(paths)
    before = _people(paths, "2026-09")
    owf = str(Path(sys.executable).parent / "owf")
    r = subprocess.run(
        [owf, "hub", "rotate-key", "--no-rebuild", "--hub", str(paths.root)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "epoch 1 -> 2" in r.stdout
    after = _people(paths, "2026-09")
    assert len(after) == len(before) and not after & before  # every pseudonym changed
    assert [k.epoch for k in key_chain(paths)] == [1, 2]
    assert archived_key_path(paths, 1).stat().st_mode & 0o777 == 0o600
    assert paths.hub_pseudonymisation_key.stat().st_mode & 0o777 == 0o600

    drop(paths, months[1])  # the next month arrives after the rotation
    run(paths)
    assert len(_people(paths, "2026-09") & _people(paths, "2026-10")) == linked
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT DISTINCT hub_key_epoch FROM raw.staff_in_post").fetchall() == [
            (2,)
        ]
        [(detail,)] = wh.execute(
            "SELECT detail FROM audit.events WHERE event = 'key_rotated'"
        ).fetchall()
        assert json.loads(detail)["from_epoch"] == 1 and json.loads(detail)["to_epoch"] == 2
        assert audit.verify(wh, audit.read_head(paths))[1] == []


def test_a_key_folder_older_than_the_warehouse_lands_nothing(world, tmp_path):
    """Found in review: with the key folder restored from a backup taken before a rotation,
    ingestion landed the next month under the old key, and nothing objected: its people's
    pseudonyms matched no one's in the months re-keyed, so they stopped linking for good."""
    from pipelines.hub import ingest as ingest_module
    from pipelines.hub import rotation

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    backup = tmp_path / "keys-backup"
    shutil.copytree(paths.keys, backup)
    assert rotation.rotate_hub_key(paths, actor="tester").to_epoch == 2
    shutil.rmtree(paths.keys)
    shutil.copytree(backup, paths.keys)  # the old backup restored
    [waiting] = drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])
    events = _newest_seq(paths)
    with pytest.raises(OwfError) as caught:
        ingest_module.ingest(paths)
    message = str(caught.value)
    assert "is epoch 1, but the warehouse holds submissions re-keyed to epoch 2" in message
    assert str(paths.keys) in message and "Nothing was changed" in message, message
    assert waiting.exists() and _newest_seq(paths) == events
    assert [r[2] for r in submissions(paths)] == ["2026-09"]
    # A rotation from it would make a second, different key for epoch 2.
    with pytest.raises(OwfError, match="re-keyed to epoch 2"):
        rotation.rotate_hub_key(paths, actor="tester")
    assert not rotation.next_key_path(paths).exists() and _newest_seq(paths) == events


def test_an_interrupted_rotation_stops_ingestion_until_it_is_finished(world, tmp_path):
    from pipelines.crypto import keys as kf
    from pipelines.hub import rotation
    from pipelines.standard import load_standard

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    before = _people(paths, "2026-09")
    # Killed after the warehouse committed, before the key files moved.
    new = kf.generate_symmetric_key(kf.HUB_KEY, 2)
    kf.write_symmetric_key(rotation.next_key_path(paths), new)
    rotation._rekey_warehouse(paths, load_standard(), 1, new, "tester")
    with pytest.raises(OwfError, match="rotation was interrupted"):
        rotation.key_chain(paths)
    done = rotation.rotate_hub_key(paths, actor="tester")
    assert (done.from_epoch, done.to_epoch, done.resumed, done.rows) == (1, 2, True, 0)
    after = _people(paths, "2026-09")
    # Re-keyed exactly once: each pseudonym is one HMAC step from where it was.
    from pipelines.crypto.pseudonymise import pseudonymise

    assert after == {pseudonymise(new.key, p) for p in before}
    with connect(paths, write=False) as wh:
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'key_rotated'"
        ).fetchone() == (1,)
    assert [k.epoch for k in rotation.key_chain(paths)] == [1, 2]


def test_a_rotation_while_ingest_starts_leaves_no_row_under_the_old_key(
    world, tmp_path, monkeypatch
):
    """A rotation that completes after ingest started (reading a national month's packages
    takes a while) but before it holds the warehouse lock: ingest must land under the new key,
    and the rotation must hold the lock until its key files have moved."""
    import fcntl

    from pipelines.hub import ingest as ingest_module
    from pipelines.hub import rotation

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])

    def lock_held() -> bool:
        fd = os.open(paths.lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    fsync = rotation._fsync_dir
    held_while_promoting = []

    def promoted(folder):
        held_while_promoting.append(lock_held())
        fsync(folder)

    monkeypatch.setattr(rotation, "_fsync_dir", promoted)
    read = ingest_module._read
    rotated = []

    def read_then_rotate(path):
        if not rotated:  # the operator rotates while ingest is reading the inbox
            rotated.append(rotation.rotate_hub_key(paths, actor="operator"))
        return read(path)

    monkeypatch.setattr(ingest_module, "_read", read_then_rotate)
    result = ingest_module.ingest(paths)
    assert [p.status for p in result.outcomes] == ["accepted"]
    # The key folder is synced twice (the new key written, then promoted), the lock held.
    assert rotated[0].to_epoch == 2 and held_while_promoting == [True, True]
    with connect(paths, write=False) as wh:
        assert wh.execute(
            "SELECT DISTINCT hub_key_epoch FROM raw.staff_in_post"
            " UNION SELECT DISTINCT hub_key_epoch FROM raw.submissions"
        ).fetchall() == [(2,)]
    # The months stay linked: the same people under one pseudonym each.
    assert len(_people(paths, "2026-09") & _people(paths, "2026-10")) > 100


def test_ingest_refuses_keys_loaded_before_a_rotation(world, tmp_path):
    from pipelines.hub import rotation
    from pipelines.hub.ingest import ingest, load_hub_keys

    paths = fresh_hub(world, tmp_path)
    stale = load_hub_keys(paths)
    rotation.rotate_hub_key(paths, actor="operator")
    [f] = drop(paths, world["packages"][("RW1", "staff_in_post", "2026-10")])
    with pytest.raises(OwfError, match="epoch 1, but .* is epoch 2: the key was rotated"):
        ingest(paths, keys=stale)
    assert f.exists() and submissions(paths) == []


def test_rotation_leaves_no_old_epoch_pseudonym_in_the_warehouse_file(world, tmp_path):
    from pipelines.hub import rotation

    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "staff_in_post", "2026-09")])
    run(paths)
    old = sorted(_people(paths, "2026-09"))
    assert len(_left_in_file(paths, old)) == len(old)
    rotation.rotate_hub_key(paths, actor="tester")
    with connect(paths) as wh:
        assert wh.execute(
            "SELECT count(*) FROM raw.staff_in_post WHERE list_contains($o, person_id)", {"o": old}
        ).fetchone() == (0,)
        wh.execute("CHECKPOINT")
    assert _left_in_file(paths, old) == []
    assert len(_people(paths, "2026-09")) == len(old)
    with connect(paths, write=False) as wh:
        events = [
            r[0] for r in wh.execute("SELECT event FROM audit.events ORDER BY seq").fetchall()
        ]
        assert events[-2:] == ["key_rotated", "compacted"]
    r = owf_audit_verify(paths)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr


# The sensor ------------------------------------------------------------------------------


def test_inbox_sensor_requests_each_package_once_per_period(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    files = drop(
        paths,
        world["packages"][("RW1", "vacancies", "2026-09")],
        world["packages"][("RW1", "vacancies", "2026-10")],
    )
    old = time.time() - 60
    for f in files:
        os.utime(f, (old, old))
    hub = HubResource(root=str(paths.root))
    result = inbox_sensor(dg.build_sensor_context(cursor=None, resources={"hub": hub}))
    assert sorted(r.partition_key for r in result.run_requests) == ["2026-09", "2026-10"]
    again = inbox_sensor(dg.build_sensor_context(cursor=result.cursor, resources={"hub": hub}))
    assert again.run_requests == []
    new = drop(paths, world["packages"][("SC101", "vacancies", "2026-10")])[0]
    os.utime(new, (old, old))
    third = inbox_sensor(dg.build_sensor_context(cursor=again.cursor, resources={"hub": hub}))
    [req] = third.run_requests
    assert req.partition_key == "2026-10" and req.run_config["ops"]["ingest_submissions"]["config"][
        "packages"
    ] == [str(new)]


def test_inbox_sensor_asks_again_for_a_package_delivered_again_after_it_was_taken(world, tmp_path):
    """An organisation that gets no receipt delivers the same package file again after the
    hub took the first copy. Dagster starts no second run for a run key a sensor has used, so
    the request for the new copy needs a key of its own, or the copy waits in the inbox (with
    its stage-1 pseudonyms) for ever instead of being logged as a duplicate."""
    paths = fresh_hub(world, tmp_path)
    hub = HubResource(root=str(paths.root))
    [pkg] = drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    old = time.time() - 120
    os.utime(pkg, (old, old))
    first = inbox_sensor(dg.build_sensor_context(cursor=None, resources={"hub": hub}))
    pkg.unlink()  # the run took it
    gone = inbox_sensor(dg.build_sensor_context(cursor=first.cursor, resources={"hub": hub}))
    assert gone.run_requests == []
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    os.utime(pkg, (old + 60, old + 60))
    again = inbox_sensor(dg.build_sensor_context(cursor=gone.cursor, resources={"hub": hub}))
    [r1], [r2] = first.run_requests, again.run_requests
    assert r2.run_key != r1.run_key


def test_listing_the_inbox_while_a_run_removes_packages_does_not_fail(tmp_path):
    """A run deletes or moves each package once its decision is committed, while the sensor
    (every 30 s) and `owf hub ingest` list the inbox: a file gone between the listing and its
    stat is no longer waiting, not an error that fails the sensor's tick."""
    import threading

    from pipelines.hub.ingest import inbox_packages

    paths = HubPaths.at(tmp_path / "hub").ensure()
    for i in range(30):
        (paths.inbox / f"waiting{i}.owfpkg").write_bytes(b"x")
    stop = threading.Event()

    def a_run_taking_packages():
        i = 0
        while not stop.is_set():
            f = paths.inbox / f"taken{i % 20}.owfpkg"
            f.write_bytes(b"x")
            f.unlink()
            i += 1

    taker = threading.Thread(target=a_run_taking_packages)
    taker.start()
    failures = 0
    try:
        for _ in range(1500):
            try:
                listed = inbox_packages(paths)
            except FileNotFoundError:
                failures += 1
                continue
            assert {f"waiting{i}.owfpkg" for i in range(30)} <= {p.name for p in listed}
    finally:
        stop.set()
        taker.join()
    assert failures == 0


def test_inbox_sensor_sends_a_package_with_a_mangled_manifest_to_a_run_to_be_refused(
    world, tmp_path
):
    """The sensor reads each package's claimed period without trusting it: a manifest that is
    not a JSON object (or not JSON) must not stop it requesting runs for everyone else."""
    paths = fresh_hub(world, tmp_path)
    good = drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])[0]
    mangled = paths.inbox / "mangled.owfpkg"
    mangled.write_bytes(MAGIC + struct.pack(">I", 6) + b"[1, 2]" + b"\0" * 40)
    undecodable = paths.inbox / "undecodable.owfpkg"
    undecodable.write_bytes(MAGIC + struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc" + b"\0" * 40)
    old = time.time() - 60
    for f in (good, mangled, undecodable):
        os.utime(f, (old, old))
    hub = HubResource(root=str(paths.root))
    result = inbox_sensor(dg.build_sensor_context(cursor=None, resources={"hub": hub}))
    requested = {
        Path(f).name: r.partition_key
        for r in result.run_requests
        for f in r.run_config["ops"]["ingest_submissions"]["config"]["packages"]
    }
    assert requested[good.name] == "2026-09"
    assert {"mangled.owfpkg", "undecodable.owfpkg"} <= set(requested)
    for r in result.run_requests:  # the runs refuse them and land the good one
        run(
            paths,
            [r.partition_key],
            r.run_config["ops"]["ingest_submissions"]["config"]["packages"],
        )
    assert sorted(r[3] for r in submissions(paths)) == ["accepted", "refused", "refused"]


def test_a_run_of_the_inbox_takes_packages_whose_period_cannot_be_read(world, tmp_path):
    """`owf hub ingest` (the way to take up what a failed sensor run left) runs the ingest job
    over the inbox without a package list: a package whose period cannot be read (or is no
    partition) must go to the latest period's run and be refused, as the sensor sends it, not
    stay in the inbox for ever with no receipt."""
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    mangled = paths.inbox / "mangled.owfpkg"
    mangled.write_bytes(MAGIC + struct.pack(">I", 6) + b"[1, 2]" + b"\0" * 40)
    result = run_ingest_job(paths, instance=dg.DagsterInstance.ephemeral())
    assert result is not None and result.success
    assert sorted(p.name for p in paths.inbox.iterdir() if p.is_file()) == []
    assert sorted(r[3] for r in submissions(paths)) == ["accepted", "refused"]
    # The same with only such a package waiting.
    mangled.write_bytes(MAGIC + struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc" + b"\0" * 40)
    assert run_ingest_job(paths, instance=dg.DagsterInstance.ephemeral()).success
    assert not mangled.exists()
    assert sorted(r[3] for r in submissions(paths)) == ["accepted", "refused", "refused"]


def test_a_run_for_a_package_another_run_already_took_records_nothing(world, tmp_path):
    """The sensor's run for a package can start after another run took it (`owf hub ingest`,
    a backfill of the period): the package is gone from the inbox, which is no refusal of
    it - its submission stays accepted, with no second record, receipt or audit event."""
    paths = fresh_hub(world, tmp_path)
    [pkg] = drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths, ["2026-09"])
    with connect(paths, write=False) as wh:
        events = wh.execute("SELECT count(*) FROM audit.events").fetchone()[0]
    receipts = sorted(paths.receipts.rglob("*.json"))
    run(paths, ["2026-09"], [pkg])  # the sensor's request, queued behind the first run
    assert [r[3] for r in submissions(paths)] == ["accepted"]
    assert sorted(paths.receipts.rglob("*.json")) == receipts
    with connect(paths, write=False) as wh:
        assert wh.execute("SELECT count(*) FROM audit.events").fetchone()[0] == events


def test_republication_follows_every_ingest_run_that_accepted_not_only_the_latest(world, tmp_path):
    """Ingest runs finish one after another (one per period, queued for the warehouse): the
    sensor must ask for a publication when any run since its last tick accepted a submission,
    not only when the newest one did."""
    paths = fresh_hub(world, tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    accepting = run(paths, ["2026-09"], instance=instance)
    mangled = paths.inbox / "mangled.owfpkg"
    mangled.write_bytes(MAGIC + struct.pack(">I", 6) + b"[1, 2]" + b"\0" * 40)
    run(paths, ["2026-10"], [mangled], instance=instance)  # refuses it, accepts nothing
    context = dg.build_sensor_context(instance=instance)
    requests = [
        r for r in republish_on_accepted_submission(context) if isinstance(r, dg.RunRequest)
    ]
    assert [r.run_key for r in requests] == [f"republish-after-{accepting.run_id}"]
    # Nothing new since: no second request.
    again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
    assert not [r for r in republish_on_accepted_submission(again) if isinstance(r, dg.RunRequest)]


def test_a_new_sensor_does_not_publish_again_what_is_published(world, tmp_path):
    """Found in review: `make dev` after `make demo` published again within seconds - the
    sensor, with no cursor yet, read the demo's ingestion run as new, though the demo had
    published it. A run recorded before the latest publication is in it; one after is not."""
    from pipelines.defs.instance import run_hub_job

    paths = fresh_hub(world, tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths, ["2026-09"], instance=instance)
    assert run_hub_job("publish_job", paths, instance=instance).success

    def requested():
        context = dg.build_sensor_context(instance=instance)  # a new daemon: no cursor
        return [
            r.run_key
            for r in republish_on_accepted_submission(context)
            if isinstance(r, dg.RunRequest)
        ]

    assert requested() == []
    drop(paths, world["packages"][("SC101", "vacancies", "2026-09")])
    later = run(paths, ["2026-09"], instance=instance)
    assert requested() == [f"republish-after-{later.run_id}"]

    # Found in re-review: an ingestion run that lands while a publish run builds is recorded
    # before that run's publication but is not in it. A publish run started, then the
    # ingestion, then its publication recorded: the ingestion is still to publish.
    from dagster._core.events import DagsterEvent, StepMaterializationData

    from pipelines.defs.publish import PUBLICATION_KEY

    @dg.op
    def build_and_publish():
        pass

    @dg.job
    def publish_stand_in():
        build_and_publish()

    publish = instance.create_run_for_job(publish_stand_in)
    instance.handle_run_event(
        publish.run_id,
        DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name="p"),
    )
    time.sleep(0.05)
    drop(paths, world["packages"][("HS101", "vacancies", "2026-09")])
    during = run(paths, ["2026-09"], instance=instance)
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name="p",
            event_specific_data=StepMaterializationData(dg.AssetMaterialization(PUBLICATION_KEY)),
        ),
        publish.run_id,
    )
    assert requested() == [f"republish-after-{during.run_id}"]


def test_the_model_and_publish_jobs_refresh_the_registry_tables_first(world, tmp_path):
    """publish_job's first step copies the hub's registry into the warehouse (publication.md):
    an agreement or organisation changed since the last ingestion reaches the models (data
    quality's expected submissions, turnover's sectors) on the next build, not only after the
    next package arrives."""
    from pipelines.definitions import defs
    from pipelines.defs.instance import run_hub_job

    for job in ("models_job", "publish_job"):
        assert "registry_tables" in defs.resolve_job_def(job).graph.node_dict, job
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths, ["2026-09"])
    edit_yaml(
        paths.governance / "organisations.yaml",
        lambda d: next(o for o in d["organisations"] if o["ods_code"] == "RW1").update(
            name="Renamed Hospitals NHS Trust"
        ),
    )
    run_hub_job("models_job", paths, instance=dg.DagsterInstance.ephemeral())
    with connect(paths, write=False) as wh:
        [(name,)] = wh.execute(
            "SELECT org_name FROM governance.organisations WHERE org_code = 'RW1'"
        ).fetchall()
    assert name == "Renamed Hospitals NHS Trust"


def test_a_warehouse_held_open_by_another_program_is_a_clear_error_and_changes_nothing(
    world, tmp_path
):
    """An analyst's DuckDB session on warehouse.duckdb (even read-only) holds DuckDB's own
    lock, which the hub's lock file does not know of: `owf hub ingest` and `owf publish` say
    which file and program and what to do, and leave the packages and the warehouse as they
    were (no stack trace ending in DuckDB's advice to open the file read-only)."""
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths, ["2026-09"])
    [waiting] = drop(paths, world["packages"][("SC101", "vacancies", "2026-09")])
    before = submissions(paths)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True);"
            " print('open', flush=True); time.sleep(300)",
            str(paths.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        owf = Path(sys.executable).parent / "owf"
        env = {**os.environ, "DAGSTER_HOME": ""}
        env.pop("DAGSTER_HOME")
        for args in (["hub", "ingest"], ["publish"]):
            r = subprocess.run(
                [owf, *args, "--hub", str(paths.root)],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
            assert r.returncode != 0, args
            last = r.stderr.strip().splitlines()[-1]
            assert last.startswith("error: the warehouse") and str(paths.warehouse) in last, (
                args,
                r.stderr[-3000:],
            )
            assert f"(PID {holder.pid})" in last and "Nothing was changed" in last
    finally:
        holder.kill()
        holder.wait()
    assert waiting.exists() and submissions(paths) == before
    assert owf_audit_verify(paths).returncode == 0


def test_a_dbt_build_left_running_by_a_stopped_publish_is_named_as_such(world, tmp_path):
    """`owf publish` killed during its build leaves dbt running (its child), writing the
    warehouse without the hub's lock, which went with its parent: the next command said
    "open in another program (python3.11 (PID n))", as if an analyst's session held it."""
    paths = fresh_hub(world, tmp_path)
    drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    run(paths, ["2026-09"])
    fake_dbt = tmp_path / "bin" / "dbt"  # a process whose command line names dbt
    fake_dbt.parent.mkdir()
    fake_dbt.write_text(
        "import duckdb, sys, time\nc = duckdb.connect(sys.argv[1])\n"
        "print('open', flush=True)\ntime.sleep(300)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, str(fake_dbt), str(paths.warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(
            OwfError, match=rf"still being built by a dbt process \(PID {holder.pid}\)"
        ):
            with connect(paths):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_the_hub_instance_gives_the_warehouse_pool_to_whole_runs(tmp_path, monkeypatch):
    """With the pool counted per op (Dagster's default), a publish run gives up the warehouse
    slot between its dbt build and its publication step, and an ingest run waiting for it
    lands submissions in between: the publication's manifest then lists the newly accepted
    submission as used and leaves out the one it superseded, which the marts were built from.
    The instance `make dev` and `owf` use must hold the pool for a run's whole length."""
    from dagster._core.instance.config import PoolGranularity

    from pipelines.definitions import defs
    from pipelines.defs.instance import local_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    instance = local_instance()
    pools = instance.get_concurrency_config().pool_config
    assert pools.pool_granularity == PoolGranularity.RUN and pools.default_pool_limit == 1
    for job in ("ingest_job", "publish_job", "models_job", "retention_job"):
        steps = defs.resolve_job_def(job).graph.node_dict.values()
        assert any(n.definition.pool == "warehouse" for n in steps), job


def test_owf_hub_ingest_with_a_period_that_is_no_partition_says_so(world, tmp_path):
    """`--period 2026-9` (or a month after the last complete one) used to be dropped without
    a word: "nothing to ingest", exit code 0, with the package still waiting."""
    paths = fresh_hub(world, tmp_path)
    [waiting] = drop(paths, world["packages"][("RW1", "vacancies", "2026-09")])
    owf = str(Path(sys.executable).parent / "owf")
    for bad in ("2026-9", "2099-01"):
        r = subprocess.run(
            [owf, "hub", "ingest", "--hub", str(paths.root), "--period", bad],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"--period {bad}" in r.stderr and "YYYY-MM" in r.stderr, r.stderr
    assert waiting.exists()


# The asset graph -------------------------------------------------------------------------


SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "asset_graph.json"


def asset_graph_snapshot() -> dict:
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitioned": node.partitions_def is not None,
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    jobs = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "sensors": sorted(s.name for s in defs.sensors or []),
        "schedules": sorted(s.name for s in defs.schedules or []),
    }


def test_asset_graph_matches_the_snapshot():
    current = asset_graph_snapshot()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "the asset graph changed: review, then run UPDATE_SNAPSHOTS=1 pytest -k asset_graph"
    )


def test_organisation_side_tool_imports_neither_dagster_nor_dbt():
    code = "import sys, pipelines.cli, pipelines.submission.prepare; print(sorted(m for m in ('dagster', 'dbt') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_demo_world_helpers_deliver_atomically(world, tmp_path):
    paths = fresh_hub(world, tmp_path)
    from pipelines.hub.bootstrap import Prepared

    n = deliver(
        [
            Prepared(
                "RW1",
                "vacancies",
                "2026-10",
                "packaged",
                world["packages"][("RW1", "vacancies", "2026-10")],
                None,
                None,
            )
        ],
        paths.inbox,
    )
    assert n == 1 and not list(paths.inbox.glob(".*"))


def test_retention_deletes_held_packages_past_their_retention(world, tmp_path):
    """A quarantined or refused package holds stage-1 pseudonyms: kept until its retention
    ends (the agreement's, or the policy's default when refused before any agreement), then
    its file is deleted and its record purged - not kept for ever."""
    from pipelines.hub.retention import purge_expired

    paths = fresh_hub(world, tmp_path, _agreement("ISA-WV-001", retention={"months": 1}))
    forged, quarantined, held = _one_refused_one_quarantined(world, paths, tmp_path, "badgender4")
    files = [paths.refused / "RW1" / forged.name, paths.quarantine / "RW1" / quarantined.name]
    assert all(f.exists() for f in files)

    # The quarantined one's agreement keeps it one month after October; the refused one has
    # none, so the policy's default (84 months) applies.
    assert purge_expired(paths, today=dt.date(2026, 11, 30)) == []
    assert all(f.exists() for f in files)
    purge_expired(paths, today=dt.date(2026, 12, 1))
    statuses = {r[6]: r[3] for r in submissions(paths)}
    assert statuses == {held["quarantined"]: "purged", held["refused"]: "refused"}
    assert not files[1].exists() and files[0].exists()
    purge_expired(paths, today=dt.date(2033, 11, 1))
    assert {r[3] for r in submissions(paths)} == {"purged"} and not files[0].exists()
    with connect(paths, write=False) as wh:
        details = [
            r[0]
            for r in wh.execute(
                "SELECT detail FROM audit.events WHERE event = 'purged' ORDER BY seq"
            ).fetchall()
        ]
        assert '"held": "quarantined"' in details[0] and '"held": "refused"' in details[1]
        # Only files went: nothing in the database to compact away.
        assert wh.execute(
            "SELECT count(*) FROM audit.events WHERE event = 'compacted'"
        ).fetchone() == (0,)
        assert audit.verify(wh, audit.read_head(paths))[1] == []


def test_a_held_package_past_its_retention_is_deleted_though_the_compaction_fails(
    world, tmp_path, monkeypatch
):
    """Found in review: a held package's file was deleted after the compaction that follows
    the purges, and after the warehouse was let go: a compaction that failed (a full disk)
    left the file, holding stage-1 pseudonyms, while its record said it was deleted, and
    nothing looked for it again. Each file now goes with its record's commit."""
    from pipelines.hub import retention

    paths = fresh_hub(world, tmp_path, _agreement("ISA-WV-001", retention={"months": 1}))
    _, quarantined, held = _one_refused_one_quarantined(world, paths, tmp_path, "badgender5")
    file = paths.quarantine / "RW1" / quarantined.name
    assert file.exists()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(retention, "compact_if_owed", disk_full)
    with pytest.raises(OSError, match="No space left"):
        retention.purge_expired(paths, today=dt.date(2026, 12, 1))
    assert {r[6]: r[3] for r in submissions(paths)}[held["quarantined"]] == "purged"
    assert not file.exists()


def test_a_hub_holding_data_never_gets_new_keys_for_lost_ones(world, tmp_path):
    """Found in review: with keys/ lost (or only hub-pseudonymisation.key), `owf hub init`
    said "hub ready" and made a new epoch-1 key beside a warehouse of 1,200 submissions;
    the next month was accepted, and none of its people matched the month before, so all
    of them were leavers, with no error anywhere. Now init, ingest and status refuse and
    say to restore the keys folder, and nothing is written."""
    from pipelines.hub import bootstrap
    from pipelines.hub.ingest import ingest

    paths = fresh_hub(world, tmp_path)
    drop(paths, *[p for k, p in world["packages"].items() if k[0] == "RW1"][:1])
    assert ingest(paths).summary()["accepted"] == 1
    saved = tmp_path / "keys-backup"
    shutil.move(paths.keys / "hub-pseudonymisation.key", saved)
    before = sorted(p.name for p in paths.keys.iterdir())
    head = paths.audit_head.read_bytes()
    for attempt in (lambda: bootstrap.init_hub(paths.root), lambda: ingest(paths)):
        with pytest.raises(OwfError, match="Restore the keys folder from the hub's backup"):
            attempt()
    assert sorted(p.name for p in paths.keys.iterdir()) == before
    assert paths.audit_head.read_bytes() == head
    owf = str(Path(sys.executable).parent / "owf")
    r = subprocess.run(
        [owf, "hub", "init", "--hub", str(paths.root)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "holds data" in r.stderr, r.stdout + r.stderr
    # The whole keys folder lost: status said "no hub here, set one up with owf hub init".
    shutil.move(paths.hub_encryption_key, tmp_path / "hub-encryption.key")
    for command in (["hub", "init"], ["hub", "status"], ["hub", "ingest"]):
        r = subprocess.run(
            [owf, *command, "--hub", str(paths.root)], capture_output=True, text=True
        )
        assert r.returncode == 2 and "holds data" in r.stderr, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
    assert not paths.hub_pseudonymisation_key.exists() and not paths.hub_encryption_key.exists()
    # A new hub (no data) still gets its keys made.
    fresh = bootstrap.init_hub(tmp_path / "new-hub")
    assert fresh.hub_pseudonymisation_key.exists() and fresh.hub_encryption_key.exists()


def test_a_rotation_whose_rebuild_is_not_published_exits_1(tmp_path):
    """Found in review: `owf hub rotate-key` printed the publish job's failure and "no new
    publication", and exited 0, so a script took it for success (`owf publish` exits 1).
    Here the hub has landed nothing, so the rebuild has nothing to publish."""
    owf = str(Path(sys.executable).parent / "owf")
    hub = tmp_path / "hub"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")}
    subprocess.run([owf, "hub", "init", "--hub", str(hub)], check=True, capture_output=True)
    # A hub just set up: status and verify say so, and are not errors (they exited 2).
    for command, says in (
        (["hub", "status"], "nothing ingested yet (0 package(s) in the inbox"),
        (["audit", "verify"], "audit log empty"),
    ):
        r = subprocess.run([owf, *command, "--hub", str(hub)], capture_output=True, text=True)
        assert r.returncode == 0 and says in r.stdout, (command, r.stdout, r.stderr)
    r = subprocess.run(
        [owf, "hub", "rotate-key", "--hub", str(hub)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "epoch 1 -> 2" in r.stdout and "no new publication" in r.stdout
    assert "the key was rotated, but the models were not rebuilt" in r.stderr


def test_owf_hub_init_cut_short_finishes_when_run_again(tmp_path, monkeypatch):
    """Found in review: a governance copy cut short was kept by the next `owf hub init` (it
    copied only where there was no folder), and a private encryption key written without
    its public half was taken for a whole pair, leaving no public key to give organisations."""
    import filecmp

    from pipelines.crypto import keys as kf
    from pipelines.hub import bootstrap
    from pipelines.paths import PROJECT_ROOT

    source = PROJECT_ROOT / "governance"
    copy = shutil.copytree

    def cut_short(src, dst, **kwargs):
        Path(dst).mkdir(parents=True)
        shutil.copyfile(Path(src) / "organisations.yaml", Path(dst) / "organisations.yaml")
        raise KeyboardInterrupt("killed while copying")

    monkeypatch.setattr(bootstrap.shutil, "copytree", cut_short)
    with pytest.raises(KeyboardInterrupt):
        bootstrap.init_hub(tmp_path / "hub")
    monkeypatch.setattr(bootstrap.shutil, "copytree", copy)
    assert not (tmp_path / "hub" / "governance").exists()

    paths = bootstrap.init_hub(tmp_path / "hub")
    compared = filecmp.dircmp(source, paths.governance)
    assert not (compared.left_only or compared.right_only or compared.diff_files)
    assert not list(paths.root.glob(".governance*"))

    public = paths.keys / "hub-encryption.pub"
    before = kf.load_encryption_public_key(public).public_bytes_raw()
    public.unlink()  # as if killed between the two halves
    bootstrap.init_hub(tmp_path / "hub")
    assert kf.load_encryption_public_key(public).public_bytes_raw() == before
