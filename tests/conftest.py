"""Shared fixtures: valid rows of every extract, and writers for test files."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from pipelines.paths import PROJECT_ROOT
from pipelines.standard import load_standard

# Tests never write into the developer's Dagster instance (make exports DAGSTER_HOME): jobs
# run by the code under test use an ephemeral instance unless a test sets one up.
os.environ.pop("DAGSTER_HOME", None)

# Fake NI numbers that satisfy the format rules. Nothing here is derived from a real person.
NI_NUMBERS = ["AB123456C", "CE654321A", "JK111111B", "LM222222D", "PR333333A", "SW444444B"]


def valid_row(extract: str, i: int = 0) -> dict[str, str]:
    """A row of `extract` in source form that passes every rule."""
    base = {"org_code": "RW1", "period": "2026-09"}
    if extract == "staff_in_post":
        return base | {
            "person_id": NI_NUMBERS[i % len(NI_NUMBERS)],
            "assignment_id": f"{1000 + i}-1",
            "sector": "NHS_TRUST",
            "local_job_title": "Staff Nurse",
            "occupation_code": "N01",
            "sector_role": "",
            "staff_group": "NURSES_HV",
            "pay_band": "AFC_5",
            "contracted_hours": "37.5",
            "fte": "1.0",
            "contract_type": "PERMANENT",
            "assignment_start_date": "2020-01-06",
            "date_of_birth": "1990-05-01",
            "age_band": "",
            "gender": "F",
            "ethnic_category": "A",
            "disability": "N",
            "working_pattern": "FT",
            "professional_registration": "Y",
        }
    if extract == "leavers":
        return base | {
            "person_id": NI_NUMBERS[i % len(NI_NUMBERS)],
            "assignment_id": f"{2000 + i}-1",
            "sector": "NHS_TRUST",
            "occupation_code": "H11",
            "sector_role": "",
            "staff_group": "SUPPORT_DNM",
            "pay_band": "AFC_2",
            "contract_type": "PERMANENT",
            "date_of_birth": "",
            "age_band": "25-29",
            "assignment_end_date": "2026-09-15",
            "leaving_reason": "VR_WORK_LIFE_BALANCE",
            "destination": "UNKNOWN",
        }
    if extract == "vacancies":
        return base | {
            "sector": "NHS_TRUST",
            "staff_group": ["NURSES_HV", "MIDWIVES", "STT", "HCHS_DOCTORS"][i % 4],
            "harmonised_role": "",
            "funded_establishment_fte": "120.5",
            "vacant_fte": "9.6",
        }
    if extract == "sickness_absence":
        return base | {
            "person_id": NI_NUMBERS[i % len(NI_NUMBERS)],
            "staff_group": "NURSES_HV",
            "contract_type": "PERMANENT",
            "fte_days_available": "30",
            "fte_days_lost": "2.5",
            "sickness_reason": "S13",
        }
    if extract == "temporary_staffing":
        return base | {
            "sector": "NHS_TRUST",
            "staff_group": ["NURSES_HV", "SUPPORT_DNM", "HCHS_DOCTORS"][i % 3],
            "supply_type": "AGENCY",
            "price_cap_override": "N",
            "hours_worked": "1234.5",
            "shifts_filled": "164",
            "fte": "8.2",
            "spend_gbp": "61725.00",
        }
    raise KeyError(extract)


def valid_rows(extract: str, n: int = 3) -> list[dict[str, str]]:
    return [valid_row(extract, i) for i in range(n)]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None, **kw) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding=kw.pop("encoding", "utf-8")) as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", **kw)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def standard():
    return load_standard()


@pytest.fixture
def governance_copy(tmp_path) -> Path:
    """A private copy of governance/ that a test may edit."""
    target = tmp_path / "governance"
    shutil.copytree(PROJECT_ROOT / "governance", target)
    return target
