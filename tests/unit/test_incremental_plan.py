"""When the monthly build may build the record-level models incrementally
(pipelines/transform/incremental.py): only while nothing but the submissions changed."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from pipelines.transform import incremental


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    # The code lists as a copy the test may edit.
    codelists = tmp_path / "codelists"
    shutil.copytree(incremental.CODELISTS, codelists)
    monkeypatch.setattr(incremental, "CODELISTS", codelists)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA governance")
    con.execute(
        "CREATE TABLE governance.agreement_fields AS"
        " SELECT 'DSA-1' AS agreement_id, 'staff_in_post' AS extract, 'pay_band' AS field"
    )
    # In force until ten days from today.
    con.execute(
        "CREATE TABLE governance.agreement_extracts AS SELECT 'DSA-1' AS agreement_id,"
        " 'RW1' AS org_code, 'staff_in_post' AS extract, DATE '2020-01-01' AS start_date,"
        " current_date + 10 AS end_date, 'active' AS status"
    )
    yield con
    con.close()


def built(con) -> str:
    """Plan a build and record it as successful, as the build step does."""
    fingerprint, _ = incremental.plan_build(con)
    incremental.record_fingerprint(con, fingerprint)
    return fingerprint


def test_a_warehouse_never_built_is_built_in_full_and_then_incrementally(warehouse):
    fingerprint, full = incremental.plan_build(warehouse)
    assert full and incremental.recorded_fingerprint(warehouse) is None
    incremental.record_fingerprint(warehouse, fingerprint)
    assert incremental.plan_build(warehouse) == (fingerprint, False)
    assert incremental.plan_build(warehouse) == (fingerprint, False)


def test_a_registry_change_asks_for_a_full_build_and_forgets_the_last_one(warehouse):
    fingerprint = built(warehouse)
    warehouse.execute("UPDATE governance.agreement_fields SET field = 'ethnic_category'")
    changed, full = incremental.plan_build(warehouse)
    assert full and changed != fingerprint
    # Forgotten before the build: a full build that fails part-way leaves the next one full.
    assert incremental.recorded_fingerprint(warehouse) is None
    assert incremental.plan_build(warehouse) == (changed, True)


def test_a_code_list_change_asks_for_a_full_build(warehouse):
    built(warehouse)
    [codelist, *_] = sorted(incremental.CODELISTS.glob("*.csv"))
    codelist.write_text(codelist.read_text() + "\n")
    assert incremental.plan_build(warehouse)[1]


def test_a_later_build_day_is_incremental_until_an_agreement_comes_or_goes(warehouse, monkeypatch):
    """The build day reaches the models only through the agreements in force on it: a later
    day with the same agreements in force keeps the build incremental (a resubmission the day
    after the month's build), a day on which one comes into force or ends does not."""
    today = incremental.build_day(warehouse)
    # DSA-1 (fixture) ends in ten days; DSA-2 comes into force in five.
    warehouse.execute(
        "INSERT INTO governance.agreement_extracts VALUES"
        " ('DSA-2', 'SC101', 'staff_in_post', current_date + 5, current_date + 100, 'active')"
    )

    def build_on(days: int) -> None:
        monkeypatch.setattr(incremental, "build_day", lambda con: today + dt.timedelta(days=days))
        built(warehouse)

    def full_on(days: int) -> bool:
        return incremental.plan_build(warehouse, today + dt.timedelta(days=days))[1]

    build_on(0)
    assert [full_on(d) for d in (1, 4)] == [False, False]
    assert full_on(5)  # DSA-2 comes into force
    build_on(5)
    assert [full_on(d) for d in (6, 10)] == [False, False]
    assert full_on(11)  # DSA-1 has ended


def test_another_fingerprint_version_asks_for_a_full_build(warehouse, monkeypatch):
    built(warehouse)
    monkeypatch.setattr(incremental, "FINGERPRINT_VERSION", "next")
    assert incremental.plan_build(warehouse)[1]


def test_the_project_s_own_files_are_fingerprinted_but_not_what_dbt_writes():
    labels = [label for label, _ in incremental._project_files()]
    assert "dbt_project/dbt_project.yml" in labels
    assert "dbt_project/macros/incremental.sql" in labels
    assert "dbt_project/models/intermediate/int_person_months.sql" in labels
    assert any(label.startswith("codelists/") for label in labels)
    assert not [
        label for label in labels if label.startswith(("dbt_project/target/", "dbt_project/logs/"))
    ]


def test_a_build_records_its_day_even_in_a_table_made_before_days_were(warehouse):
    """The build day goes with the fingerprint (the publication gate judges by it); a
    meta.model_builds made before it was recorded (by older code, or dbt's hook) gains the
    column, and reads as no day until a build records one."""
    warehouse.execute("CREATE SCHEMA meta")
    warehouse.execute(
        "CREATE TABLE meta.model_builds (fingerprint VARCHAR NOT NULL, built_at TIMESTAMP NOT NULL)"
    )
    assert incremental.recorded_build_day(warehouse) is None
    day = dt.date(2030, 1, 1)
    fingerprint, _ = incremental.plan_build(warehouse, day)
    incremental.record_fingerprint(warehouse, fingerprint, day)
    assert incremental.recorded_build_day(warehouse) == day
    assert incremental.recorded_fingerprint(warehouse) == fingerprint
    incremental.forget_fingerprint(warehouse)  # a build by other means
    assert incremental.recorded_build_day(warehouse) is None
