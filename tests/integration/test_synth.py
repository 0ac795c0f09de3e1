"""The synthetic system: determinism, stated distributions, people who move, ground truth.

The default sample system (11 organisations, 24 months) is generated once per session into
a temporary folder and shared by the tests that only read it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipelines.crypto.identifiers import is_test_range_nhs_number, is_valid_ni
from pipelines.standard.batch import validate_folder
from pipelines.standard.model import NI_NUMBER_PATTERN
from pipelines.synth import generate, national_month, sample_system
from pipelines.synth import params as P
from pipelines.synth.extracts import ESR_COLUMNS, calendar_age


@pytest.fixture(scope="session")
def system(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "system"
    return generate(sample_system(), out)


@pytest.fixture(scope="session")
def db(system):
    con = duckdb.connect()
    base = system.extracts_dir
    for extract in [
        "staff_in_post",
        "leavers",
        "sickness_absence",
        "vacancies",
        "temporary_staffing",
    ]:
        glob = str(base / "*" / f"{extract}_*.csv")
        con.execute(
            f"CREATE TABLE {extract} AS SELECT * FROM read_csv('{glob}', all_varchar = true, union_by_name = true)"
        )
    for name in ["people", "assignments", "census"]:
        path = system.truth_dir / f"{name}.parquet"
        con.execute(f"CREATE TABLE truth_{name} AS SELECT * FROM read_parquet('{path}')")
    con.execute("CREATE MACRO norm(x) AS upper(replace(x, ' ', ''))")
    return con


def q(con, sql, params=None):
    return con.execute(sql, params or {}).fetchall()


# Determinism -----------------------------------------------------------------------------


def _small(seed=7):
    return replace(
        sample_system(months=3, seed=seed), organisations=sample_system().organisations[:4]
    )


def test_same_seed_gives_byte_identical_output(tmp_path):
    a = generate(_small(), tmp_path / "a")
    b = generate(_small(), tmp_path / "b")
    assert a.digest == b.digest
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_different_seed_gives_different_output(tmp_path):
    a = generate(_small(seed=7), tmp_path / "a")
    b = generate(_small(seed=8), tmp_path / "b")
    assert a.digest != b.digest


# Shape of the output ---------------------------------------------------------------------


def test_one_file_per_organisation_extract_and_month(system):
    orgs = [o.ods_code for o in sample_system().organisations]
    assert len(orgs) == 11
    for org in orgs:
        folder = system.extracts_dir / org
        for extract in [
            "staff_in_post",
            "leavers",
            "vacancies",
            "sickness_absence",
            "temporary_staffing",
        ]:
            assert len(list(folder.glob(f"{extract}_{org}_*.csv"))) == 24


def test_every_file_passes_the_validator_for_two_periods(system, tmp_path):
    # Validating all 1,320 files takes ~25 s; two periods of every organisation and extract
    # cover every code path (the full run is `owf synth --validate`, quoted in the notes).
    subset = tmp_path / "subset"
    subset.mkdir()
    for p in system.extracts_dir.rglob("*.csv"):
        if p.name.endswith(("_2024-11.csv", "_2026-10.csv")) and not p.name.startswith("esr_"):
            (subset / p.name).symlink_to(p)
    summary = validate_folder(subset, workers=2)
    assert sum(s.files for s in summary.values()) == 11 * 5 * 2
    assert not [f for s in summary.values() for f in s.failed], [
        r for s in summary.values() for r in s.reports
    ]


def test_esr_layout_for_nhs_trusts_matches_the_standard_files(system):
    esr = sorted(system.extracts_dir.glob("RW1/esr_staff_in_post_RW1_*.csv"))
    assert len(esr) == 24
    assert not list(system.extracts_dir.glob("P81001/esr_*"))
    con = duckdb.connect()
    header = q(con, "SELECT * FROM read_csv($p, all_varchar = true) LIMIT 0", {"p": str(esr[-1])})
    cols = [
        d[0]
        for d in con.execute(
            "DESCRIBE SELECT * FROM read_csv($p, all_varchar = true)", {"p": str(esr[-1])}
        ).fetchall()
    ]
    assert cols == ESR_COLUMNS and header == []
    std_file = esr[-1].with_name(esr[-1].name.replace("esr_", ""))
    same = q(
        con,
        "SELECT count(*) FROM read_csv($e, all_varchar = true) e JOIN read_csv($s, all_varchar = true) s"
        ' ON e."Assignment Number" = s.assignment_id AND e."Occupation Code" = s.occupation_code',
        {"e": str(esr[-1]), "s": str(std_file)},
    )[0][0]
    rows = q(con, "SELECT count(*) FROM read_csv($s, all_varchar = true)", {"s": str(std_file)})[0][
        0
    ]
    assert same == rows > 1000


# Identifiers -----------------------------------------------------------------------------


def test_ni_numbers_are_well_formed_and_unique_per_person(db):
    bad = q(
        db,
        "SELECT count(*) FROM truth_people WHERE NOT regexp_full_match(ni_number, $p)",
        {"p": NI_NUMBER_PATTERN},
    )
    assert bad == [(0,)]
    assert q(db, "SELECT count(*) = count(DISTINCT ni_number) FROM truth_people") == [(True,)]
    sample = [
        r[0] for r in q(db, "SELECT DISTINCT person_id FROM staff_in_post USING SAMPLE 500 ROWS")
    ]
    assert all(is_valid_ni(v) for v in sample)
    assert any(" " in v for v in sample) and any(v != v.upper() for v in sample), (
        "messy spellings expected"
    )


def test_nhs_numbers_are_in_the_test_range_with_valid_check_digits(system):
    con = duckdb.connect()
    values = [
        r[0]
        for r in q(
            con,
            'SELECT "Nhs Number" FROM read_csv($p, all_varchar = true)',
            {"p": str(next(system.extracts_dir.glob("RW2/esr_*_2026-10.csv")))},
        )
    ]
    assert len(values) > 500 and all(is_test_range_nhs_number(v) for v in values)


# Stated distributions --------------------------------------------------------------------


def _leaver_rate(db, sector):
    """Organisation leavers over the last 12 months / average headcount (DOMAIN definition)."""
    [(leavers, start, end)] = q(
        db,
        """
        WITH hc AS (SELECT period, count(DISTINCT norm(person_id) || org_code) AS n FROM staff_in_post
                    WHERE sector = $s AND fte::DOUBLE > 0 GROUP BY period)
        SELECT (SELECT count(DISTINCT norm(person_id) || org_code) FROM leavers
                 WHERE sector = $s AND period > '2025-10'),
               (SELECT n FROM hc WHERE period = '2025-10'), (SELECT n FROM hc WHERE period = '2026-10')
        """,
        {"s": sector},
    )
    return leavers / ((start + end) / 2)


def test_leaver_rate_of_nhs_trusts_is_about_ten_to_twelve_percent(db):
    assert 0.09 <= _leaver_rate(db, "NHS_TRUST") <= 0.13


def test_leaver_rate_of_social_care_follows_skills_for_care(db):
    assert 0.18 <= _leaver_rate(db, "SOCIAL_CARE") <= 0.32


def test_about_three_quarters_female_and_a_quarter_bme(db):
    [(female, bme)] = q(
        db,
        """SELECT avg((gender = 'F')::INT), avg((ethnic_category IN ('D','E','F','G','H','J','K','L','M','N','P','R','S'))::INT)
           FROM (SELECT DISTINCT norm(person_id) p, gender, ethnic_category FROM staff_in_post WHERE period = '2026-10')""",
    )
    assert 0.70 <= female <= 0.82
    assert 0.20 <= bme <= 0.30


def test_ages_between_18_and_70_with_a_realistic_share_over_55(system):
    con = duckdb.connect()
    [(lo, hi, over55)] = q(
        con,
        """SELECT min(age), max(age), avg((age >= 55)::INT) FROM (
             SELECT date_diff('year', date_of_birth::DATE, DATE '2026-10-31') AS age
             FROM read_csv($p, all_varchar = true) WHERE date_of_birth IS NOT NULL)""",
        {"p": str(system.extracts_dir / "*" / "staff_in_post_*_2026-10.csv")},
    )
    assert lo >= 17 and hi <= 75
    assert 0.12 <= over55 <= 0.30


def test_staff_group_mix_of_acute_trusts_follows_the_parameters(db, standard):
    group_of = {r["code"]: r["staff_group"] for r in standard.codelists["harmonised_role"].rows}
    weights = P.ROLE_MIX["acute_trust"]
    expected: dict[str, float] = {}
    for role, w in weights.items():
        expected[group_of[role]] = expected.get(group_of[role], 0) + w / sum(weights.values())
    observed = dict(
        q(
            db,
            """SELECT staff_group, count(*) / sum(count(*)) OVER () FROM staff_in_post
                 WHERE org_code = 'RW1' AND period = '2024-11' AND contract_type <> 'BANK' GROUP BY ALL""",
        )
    )
    for group, share in expected.items():
        assert abs(observed.get(group, 0) - share) < 0.03, (group, observed.get(group), share)


def test_sickness_absence_is_about_five_percent(db):
    [(rate,)] = q(
        db,
        "SELECT sum(fte_days_lost::DOUBLE) / sum(fte_days_available::DOUBLE) FROM sickness_absence",
    )
    assert 0.04 <= rate <= 0.06


def test_vacancy_rate_is_about_eight_percent(db):
    [(rate,)] = q(
        db, "SELECT sum(vacant_fte::DOUBLE) / sum(funded_establishment_fte::DOUBLE) FROM vacancies"
    )
    assert 0.06 <= rate <= 0.10


def test_bank_and_agency_use_with_price_cap_overrides(db):
    rows = dict(
        q(
            db,
            "SELECT supply_type || '/' || price_cap_override, sum(spend_gbp::DOUBLE) FROM temporary_staffing GROUP BY ALL",
        )
    )
    assert set(rows) == {"BANK/N", "AGENCY/N", "AGENCY/Y"}
    assert rows["BANK/N"] > rows["AGENCY/Y"] > 0


def test_leaving_reasons_include_a_realistic_share_unknown(db):
    [(unknown, retired)] = q(
        db,
        "SELECT avg((leaving_reason = 'UNKNOWN')::INT), avg((leaving_reason LIKE 'RETIREMENT%')::INT) FROM leavers",
    )
    assert 0.10 <= unknown <= 0.30
    assert 0.08 <= retired <= 0.40


def test_retirements_happen_at_older_ages(db):
    [(age,)] = q(
        db,
        """SELECT avg(date_diff('year', date_of_birth::DATE, assignment_end_date::DATE)) FROM leavers
           WHERE leaving_reason = 'RETIREMENT_AGE' AND date_of_birth IS NOT NULL""",
    )
    assert age >= 60


def test_local_job_titles_are_messy_and_some_are_unmapped(db, standard):
    from pipelines.standard.titles import normalise_title

    titles = [
        r[0]
        for r in q(
            db,
            "SELECT local_job_title FROM staff_in_post WHERE period = '2026-10' AND local_job_title IS NOT NULL",
        )
    ]
    mapped = {r["local_title"] for r in standard.codelists["job_title_map"].rows}
    spellings = {}
    for t in titles:
        spellings.setdefault(normalise_title(t), set()).add(t)
    assert max(len(v) for v in spellings.values()) >= 4, "one role should have several spellings"
    unmapped = sum(normalise_title(t) not in mapped for t in titles) / len(titles)
    assert 0.01 <= unmapped <= 0.05


# People who move, change and return ------------------------------------------------------


def test_people_move_between_organisations_of_the_system(db):
    [(movers,)] = q(
        db, "SELECT count(*) FROM truth_assignments WHERE end_kind = 'moved_within_system'"
    )
    [(people,)] = q(
        db, "SELECT count(DISTINCT person_key) FROM truth_census WHERE period = '2026-10'"
    )
    assert movers / people / 2 > 0.015  # a few percent a year over two years
    # A mover is in post at the new organisation at the census of the month they moved.
    [(seen,)] = q(
        db,
        """SELECT count(*) FROM truth_assignments a
           JOIN truth_census c ON c.person_key = a.person_key AND c.org_code = a.to_org_code
            AND c.period = strftime(a.end_date, '%Y-%m')
           WHERE a.end_kind = 'moved_within_system' AND a.is_main""",
    )
    assert (
        seen
        > 0.9
        * q(
            db,
            "SELECT count(*) FROM truth_assignments WHERE end_kind = 'moved_within_system' AND is_main",
        )[0][0]
    )


def test_staff_group_changes_exist(db):
    [(n,)] = q(
        db,
        """SELECT count(*) FROM (SELECT person_key, org_code FROM truth_assignments
           GROUP BY ALL HAVING count(DISTINCT staff_group) > 1)""",
    )
    assert n > 20


def test_people_with_two_assignments_and_in_two_organisations(db):
    [(two_assignments,)] = q(
        db,
        "SELECT count(*) FROM (SELECT 1 FROM truth_census WHERE period = '2026-10' GROUP BY person_key, org_code HAVING count(*) > 1)",
    )
    [(two_orgs,)] = q(
        db,
        "SELECT count(*) FROM (SELECT 1 FROM truth_census WHERE period = '2026-10' GROUP BY person_key HAVING count(DISTINCT org_code) > 1)",
    )
    assert two_assignments > 50 and two_orgs > 10


def test_leavers_who_rejoin_exist(db):
    [(n,)] = q(
        db,
        """SELECT count(*) FROM truth_assignments l JOIN truth_assignments r
             ON r.person_key = l.person_key AND r.org_code = l.org_code AND r.start_date > l.end_date + 30
           WHERE l.end_kind = 'left_system' AND l.is_main AND r.is_main""",
    )
    assert n > 5


def test_part_timers(db):
    [(pt,)] = q(
        db, "SELECT avg((working_pattern = 'PT')::INT) FROM staff_in_post WHERE period = '2026-10'"
    )
    assert 0.25 <= pt <= 0.55


# Ground truth ----------------------------------------------------------------------------


def test_ground_truth_census_matches_staff_in_post_exactly(db):
    diff = q(
        db,
        """WITH t AS (SELECT c.period, c.org_code, a.assignment_id, p.ni_number FROM truth_census c
                      JOIN truth_assignments a USING (assignment_key) JOIN truth_people p ON p.person_key = c.person_key),
                e AS (SELECT period, org_code, assignment_id, norm(person_id) AS ni_number FROM staff_in_post)
           SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT ALL SELECT * FROM e)),
                  (SELECT count(*) FROM (SELECT * FROM e EXCEPT ALL SELECT * FROM t)),
                  (SELECT count(*) FROM e)""",
    )
    assert diff[0][0] == 0 and diff[0][1] == 0 and diff[0][2] > 100_000


def test_ground_truth_leavers_match_the_leavers_extract(db):
    [(missing, extra)] = q(
        db,
        """WITH t AS (SELECT a.org_code, strftime(a.end_date, '%Y-%m') AS period, a.assignment_id, a.leaving_reason
                      FROM truth_assignments a WHERE a.end_kind IN ('left_system', 'moved_within_system')
                        AND a.end_date <= DATE '2026-10-31'),
                e AS (SELECT org_code, period, assignment_id, leaving_reason FROM leavers)
           SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT ALL SELECT * FROM e)),
                  (SELECT count(*) FROM (SELECT * FROM e EXCEPT ALL SELECT * FROM t))""",
    )
    assert (missing, extra) == (0, 0)


def test_manifest_records_the_configuration(system):
    import json

    manifest = json.loads((system.out_dir / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 20261124 and len(manifest["periods"]) == 24
    assert manifest["content_sha256"] == system.digest
    assert not re.search(r"20\d\d-\d\d-\d\dT", json.dumps(manifest)), (
        "no timestamps: output must be reproducible"
    )


def test_national_configuration_has_220_trusts_and_scales_to_target_rows(tmp_path):
    cfg = national_month(target_rows=30_000)
    assert len(cfg.organisations) == 220 and cfg.months == 1
    result = generate(cfg, tmp_path / "nat")
    rows = sum(r["staff_in_post"] for r in result.rows_by_org.values())
    assert 26_000 <= rows <= 34_000
    full = national_month()
    assert 1_350_000 <= sum(o.headcount for o in full.organisations) * 1.04 <= 1_650_000
    summary = validate_folder(result.extracts_dir / "N0001", workers=1)
    assert summary["N0001"].files == 5 and not summary["N0001"].failed


def test_output_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    from pipelines.errors import OwfError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OwfError, match="cannot write synthetic data"):
        generate(_small(), blocker / "out")


def test_ground_truth_people_are_not_real(db):
    # Every NHS number is in the reserved test range; NI numbers avoid unallocated prefixes.
    prefixes = {r[0] for r in q(db, "SELECT DISTINCT left(ni_number, 2) FROM truth_people")}
    assert not prefixes & {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
    assert np.isfinite(len(prefixes))


def test_synth_cli_writes_where_it_says(tmp_path):
    import subprocess
    import sys

    owf = str(Path(sys.executable).parent / "owf")
    out = tmp_path / "cli"
    result = subprocess.run(
        [owf, "synth", "--out", str(out), "--months", "2", "--scale", "0.2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"extracts in {out / 'extracts'}" in result.stdout
    assert (out / "manifest.json").exists()
    bad = subprocess.run(
        [owf, "synth", "--out", str(out), "--first-period", "2024-13"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr


def test_calendar_age_counts_a_birthday_on_the_day_and_29_february():
    """The age band an HR system sends is the calendar age (found by the marts' comparison
    with the truth: days / 365.25 was a day out on some birthdays)."""
    import datetime as dt

    def day(iso: str) -> int:
        return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days

    cases = [
        ("1981-04-30", "2026-04-30", 45),  # the birthday itself
        ("1981-04-30", "2026-04-29", 44),  # the day before
        ("2000-02-29", "2026-02-28", 25),  # born on 29 February: not yet in a common year
        ("2000-02-29", "2026-03-01", 26),
        ("2000-02-29", "2028-02-29", 28),
        ("1990-12-31", "2026-12-30", 35),
        ("1960-01-01", "2026-01-01", 66),
    ]
    born = np.array([day(b) for b, _, _ in cases])
    on = np.array([day(d) for _, d, _ in cases])
    assert calendar_age(born, on).tolist() == [age for _, _, age in cases]
    # One census day for every person, as the extract writer calls it.
    assert calendar_age(born[:2], day("2026-04-30")).tolist() == [45, 45]
