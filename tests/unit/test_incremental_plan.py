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


def test_another_build_day_or_fingerprint_version_asks_for_a_full_build(warehouse, monkeypatch):
    built(warehouse)
    today = incremental.build_day(warehouse)
    monkeypatch.setattr(incremental, "build_day", lambda con: today + dt.timedelta(days=1))
    assert incremental.plan_build(warehouse)[1]
    monkeypatch.undo()
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
