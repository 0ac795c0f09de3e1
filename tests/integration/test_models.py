"""The dbt models on a real pipeline run, checked against the synthetic system's ground truth.

A small system (four organisations of three sectors, 14 monthly censuses) goes the whole way:
synthetic extracts -> owf submit -> Dagster ingest -> Dagster models job (dbt build, with its
data and unit tests as asset checks). The marts are then compared with an independent
pandas computation from the generator's truth: counts exactly, rates to rounding.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pipelines.standard.titles import normalise_title
from tests.integration.small_system import ORGS

# `pipeline`, the small system built by the models job, is in conftest.py (shared).


@pytest.fixture(scope="module")
def wh(pipeline):
    con = duckdb.connect(str(pipeline["paths"].warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def truth(pipeline):
    t = pipeline["synth"].truth_dir
    census = pd.read_parquet(t / "census.parquet")
    assignments = pd.read_parquet(t / "assignments.parquet")
    census = census.merge(
        assignments[["assignment_key", "staff_group", "role"]], on="assignment_key"
    )
    # Staff in post: FTE > 0, and GP registrars are excluded from practice counts (DOMAIN.md).
    return census[(census["fte"] > 0) & (census["role"] != "GP_REGISTRAR")]


def test_models_job_succeeds_with_every_dbt_test_passing(pipeline):
    result = pipeline["models"]
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 60
    # Every error-severity test passes; the one warn-severity test flags the synthetic
    # system's unmapped job titles (shown, not blocking).
    failed = [(c.check_name, c.severity.value) for c in checks if not c.passed]
    assert failed == [("fct_data_quality_no_open_warnings", "WARN")]


def _marts(wh, sql: str) -> pd.DataFrame:
    return wh.execute(sql).df()


def test_headcount_and_fte_match_the_truth_exactly(wh, truth):
    model = _marts(
        wh,
        "SELECT period, level, org_code, headcount, fte FROM marts.fct_workforce_in_post WHERE dimension = 'total'",
    )
    org = (
        truth.groupby(["period", "org_code"])
        .agg(headcount=("person_key", "nunique"), fte=("fte", "sum"))
        .reset_index()
    )
    merged = org.merge(
        model[model.level == "organisation"],
        on=["period", "org_code"],
        suffixes=("_truth", "_model"),
    )
    assert len(merged) == len(org) == 4 * 14
    assert (merged.headcount_truth == merged.headcount_model).all()
    assert (merged.fte_truth - merged.fte_model).abs().max() < 1e-6
    system = truth.groupby("period").person_key.nunique()
    model_system = model[model.level == "system"].set_index("period").headcount
    assert (system == model_system.loc[system.index]).all()
    # People in two organisations count once for the system.
    assert (system < org.groupby("period").headcount.sum()).all()


def test_headcount_by_staff_group_matches_the_truth(wh, truth):
    model = _marts(
        wh,
        "SELECT period, org_code, dimension_value AS staff_group, headcount FROM marts.fct_workforce_in_post"
        " WHERE level = 'organisation' AND dimension = 'staff_group'",
    )
    expected = (
        truth.groupby(["period", "org_code", "staff_group"])
        .person_key.nunique()
        .rename("truth")
        .reset_index()
    )
    merged = expected.merge(model, on=["period", "org_code", "staff_group"], how="outer")
    assert (merged.truth == merged.headcount).all(), merged[merged.truth != merged.headcount].head()


def _truth_windows(truth: pd.DataFrame, months: int) -> pd.DataFrame:
    """Leavers, joiners and system stayers per organisation and end period, from the truth."""
    periods = sorted(truth.period.unique())
    by_period = {p: g for p, g in truth.groupby("period")}
    rows = []
    for i, end in enumerate(periods):
        if i < months:
            continue
        start = periods[i - months]
        s, e = by_period[start], by_period[end]
        system_end = set(e.person_key)
        for org in sorted(set(s.org_code) | set(e.org_code)):
            at_start = set(s[s.org_code == org].person_key)
            at_end = set(e[e.org_code == org].person_key)
            leavers = at_start - at_end
            rows.append(
                {
                    "period": end,
                    "org_code": org,
                    "headcount_start": len(at_start),
                    "headcount_end": len(at_end),
                    "leavers": len(leavers),
                    "joiners": len(at_end - at_start),
                    "leavers_staying_in_system": len(leavers & system_end),
                    "stayers_in_system": len(at_start & system_end),
                }
            )
        sys_start, sys_end = set(s.person_key), system_end
        rows.append(
            {
                "period": end,
                "org_code": "SYSTEM",
                "headcount_start": len(sys_start),
                "headcount_end": len(sys_end),
                "leavers": len(sys_start - sys_end),
                "joiners": len(sys_end - sys_start),
                "leavers_staying_in_system": 0,
                "stayers_in_system": len(sys_start & sys_end),
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("months", [1, 12])
def test_leavers_joiners_and_system_stayers_match_the_truth(wh, truth, months):
    expected = _truth_windows(truth, months)
    model = _marts(
        wh,
        f"""SELECT period, org_code, headcount_start, headcount_end, leavers, joiners,
                             leavers_staying_in_system, leaver_rate
                      FROM marts.fct_turnover WHERE window_months = {months} AND staff_group = 'ALL'
                        AND method = 'nhs_average_headcount' AND level IN ('organisation', 'system')""",
    )
    merged = expected.merge(model, on=["period", "org_code"], suffixes=("", "_model"))
    assert len(merged) == len(expected) > 0
    for col in [
        "headcount_start",
        "headcount_end",
        "leavers",
        "joiners",
        "leavers_staying_in_system",
    ]:
        assert (merged[col] == merged[f"{col}_model"]).all(), (
            col,
            merged[merged[col] != merged[f"{col}_model"]].head(),
        )
    rate = merged.leavers / ((merged.headcount_start + merged.headcount_end) / 2)
    assert (rate - merged.leaver_rate).abs().max() < 1e-9
    if months == 12:
        # The system's value: people who left an organisation for another one of the system.
        assert merged[merged.org_code != "SYSTEM"].leavers_staying_in_system.sum() > 0


def test_leaving_reasons_add_up_to_the_organisations_leavers_of_the_month(wh):
    """Reasons are given for turnover's leavers: a leaver record of someone not in post at
    the previous census (bank only, FTE 0) is not a leaver's, and once counted it made the
    reasons come to more than the leavers."""
    compared = _marts(
        wh,
        """WITH reasons AS (
               SELECT org_code, period, sum(leavers) AS by_reason FROM marts.fct_leaving_reasons
               WHERE level = 'organisation' GROUP BY ALL),
           turnover AS (
               SELECT org_code, period, leavers FROM marts.fct_turnover
               WHERE window_months = 1 AND level = 'organisation' AND staff_group = 'ALL'
                 AND method = 'nhs_average_headcount')
           SELECT * FROM reasons JOIN turnover USING (org_code, period)""",
    )
    assert len(compared) > 20 and compared.leavers.sum() > 0
    assert (compared.by_reason == compared.leavers).all(), compared[
        compared.by_reason != compared.leavers
    ]
    # The extract does hold records of people who were not in post before: they are left out.
    not_in_post_before = wh.execute(
        """SELECT count(*) FROM (
               SELECT DISTINCT l.org_code, l.period_start_date, l.person_id
               FROM staging.stg_leavers l
               WHERE NOT EXISTS (
                   SELECT 1 FROM intermediate.int_person_months p
                   WHERE p.level = 'organisation' AND p.org_code = l.org_code
                     AND p.person_id = l.person_id
                     AND p.period_start_date = l.period_start_date - INTERVAL 1 MONTH)
                 AND EXISTS (
                   SELECT 1 FROM intermediate.int_person_months p
                   WHERE p.org_code = l.org_code
                     AND p.period_start_date = l.period_start_date - INTERVAL 1 MONTH))"""
    ).fetchone()[0]
    assert not_in_post_before > 0


def test_stability_matches_the_truth(wh, truth):
    expected = _truth_windows(truth, 12)
    model = _marts(
        wh,
        "SELECT period, org_code, headcount_start, stayers, stability_index, stayers_in_system, system_stability_index"
        " FROM marts.fct_stability WHERE staff_group = 'ALL' AND level IN ('organisation', 'system')",
    )
    merged = expected.merge(model, on=["period", "org_code"], suffixes=("", "_model"))
    assert len(merged) == len(expected)
    stayers = merged.headcount_start - merged.leavers
    assert (stayers == merged.stayers).all()
    assert ((stayers / merged.headcount_start) - merged.stability_index).abs().max() < 1e-9
    assert (merged.stayers_in_system == merged.stayers_in_system_model).all()


def test_flows_between_organisations_match_the_truth(wh, truth):
    periods = sorted(truth.period.unique())
    start, end = periods[-13], periods[-1]
    s = truth[truth.period == start][["org_code", "person_key"]].drop_duplicates()
    e = truth[truth.period == end][["org_code", "person_key"]].drop_duplicates()
    pairs = s.merge(e, on="person_key", suffixes=("_from", "_to"))
    pairs = pairs[pairs.org_code_from != pairs.org_code_to]
    stay_from = set(map(tuple, e[["org_code", "person_key"]].values))
    was_to = set(map(tuple, s[["org_code", "person_key"]].values))
    pairs = pairs[
        [
            (f, p) not in stay_from and (t, p) not in was_to
            for f, t, p in zip(
                pairs.org_code_from, pairs.org_code_to, pairs.person_key, strict=True
            )
        ]
    ]
    expected = pairs.groupby(["org_code_from", "org_code_to"]).person_key.nunique()
    model = _marts(
        wh,
        "SELECT from_org_code, to_org_code, staff_group = 'ALL' AS all_groups, sum(people) AS people"
        f" FROM marts.fct_flows_between_organisations WHERE period = '{end}' AND window_months = 12"
        " GROUP BY ALL",
    )
    all_groups = model[model.all_groups].set_index(["from_org_code", "to_org_code"]).people
    by_group = model[~model.all_groups].set_index(["from_org_code", "to_org_code"]).people
    assert expected.sum() > 0
    assert dict(expected) == dict(all_groups)
    assert dict(expected) == dict(by_group)  # the staff groups add up to ALL


def test_people_above_1_fte_across_organisations_match_the_truth(wh, truth):
    """DOMAIN.md: a person above 1.0 FTE is a data-quality warning. One in post at two
    organisations, under 1.0 at each, is visible only at the hub."""
    at_org = truth.groupby(["period", "org_code", "person_key"]).fte.sum().reset_index()
    people = at_org.groupby(["period", "person_key"]).agg(
        orgs=("org_code", "nunique"), fte=("fte", "sum")
    )
    flagged = people[(people.orgs > 1) & (people.fte > 1.0 + 1e-9)].reset_index()
    expected = flagged.groupby("period").size()
    assert expected.sum() > 0  # the synthetic system has such people
    model = (
        _marts(
            wh,
            "SELECT period, value FROM marts.fct_data_quality WHERE org_code = 'SYSTEM'"
            " AND check_name = 'people_above_1_fte_across_organisations'",
        )
        .set_index("period")
        .value
    )
    assert set(model.index) == set(truth.period.unique())
    assert {p: int(v) for p, v in model.items() if v} == {p: int(n) for p, n in expected.items()}


def test_vacancy_and_sickness_rates_follow_their_definitions(wh, pipeline):
    extracts = pipeline["synth"].extracts_dir
    con = duckdb.connect()
    vac = con.execute(
        f"SELECT sum(vacant_fte::DOUBLE) FROM read_csv('{extracts}/*/vacancies_*_2026-10.csv', all_varchar = true)"
    ).fetchall()[0][0]
    sub = con.execute(f"""SELECT sum(fte::DOUBLE) FROM read_csv('{extracts}/*/staff_in_post_*_2026-10.csv', all_varchar = true)
                          WHERE contract_type IN ('PERMANENT', 'FIXED_TERM') AND fte::DOUBLE > 0""").fetchall()[
        0
    ][0]
    [(rate, vacant, substantive)] = wh.execute(
        "SELECT vacancy_rate, vacant_fte, substantive_fte FROM marts.fct_vacancies WHERE period = '2026-10' AND level = 'system' AND staff_group = 'ALL'"
    ).fetchall()
    assert abs(vacant - vac) < 1e-6 and abs(substantive - sub) < 1e-6
    assert abs(rate - vac / (vac + sub)) < 1e-9
    lost, available = (
        con.execute(f"""SELECT sum(fte_days_lost::DOUBLE), sum(fte_days_available::DOUBLE)
        FROM read_csv('{extracts}/*/sickness_absence_*_2026-10.csv', all_varchar = true)
        WHERE contract_type <> 'BANK' AND org_code <> 'HS101'""").fetchall()[0]
    )  # the hospice does not share sickness
    [(sick,)] = wh.execute(
        "SELECT sickness_rate FROM marts.fct_sickness_absence WHERE period = '2026-10' AND level = 'system' AND staff_group = 'ALL'"
    ).fetchall()
    assert abs(sick - lost / available) < 1e-9


def test_title_normalisation_agrees_between_python_and_sql(wh):
    rows = wh.execute(
        "SELECT DISTINCT local_job_title, local_title_normalised FROM intermediate.int_assignments_harmonised"
    ).fetchall()
    assert len(rows) > 50
    for title, normalised in rows:
        assert normalise_title(title) == normalised, title


def test_unmapped_titles_are_flagged_per_organisation(wh):
    rows = dict(
        wh.execute(
            "SELECT org_code, sum(value) FROM marts.fct_data_quality WHERE check_name = 'unmapped_job_titles' GROUP BY ALL"
        ).fetchall()
    )
    assert set(rows) == set(ORGS) and sum(rows.values()) > 0


def test_only_pseudonyms_reach_the_marts(wh):
    columns = {
        r[0]
        for r in wh.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'marts'"
        ).fetchall()
    }
    assert not columns & {"person_id", "assignment_id"}


def test_headline_reads_the_marts(pipeline):
    from pipelines.transform.headline import headline, render_headline

    h = headline(pipeline["paths"])
    assert h.period == "2026-10" and h.headcount > 500
    assert 0 < h.leaver_rate_system < h.leaver_rate_organisations < 0.5
    assert 0.5 < h.stability_organisations < h.stability_system <= 1
    text = render_headline(h)
    assert "leaving their organisation" in text and "leaving the system" in text


def test_people_are_keyed_by_person_key_guarded_against_collisions(pipeline, tmp_path):
    """From staging on, people are grouped, joined and counted by person_key (a 64-bit hash of
    the pseudonym). The guard test, over the staff-in-post, leavers' and sickness pseudonyms
    together, passes on real pseudonyms and fails the build when keys collide: forced here
    with a tiny modulus, since a real 64-bit collision cannot be produced in a test."""
    import json

    from pipelines.transform.project import run_dbt

    paths = _copy_of_hub(pipeline, tmp_path)
    with duckdb.connect(str(paths.warehouse), read_only=True) as wh:
        # The models hold the key of each current pseudonym, and no pseudonym.
        assert wh.execute(
            "SELECT count(*) FROM (SELECT DISTINCT person_id FROM intermediate.int_person_months"
            " EXCEPT SELECT hash(person_id) FROM raw.staff_in_post)"
        ).fetchall() == [(0,)]
        types = wh.execute(
            "SELECT DISTINCT data_type FROM duckdb_columns() WHERE column_name = 'person_id'"
            " AND schema_name IN ('intermediate', 'marts')"
        ).fetchall()
        assert types == [("UBIGINT",)]
    guard = ["test", "--select", "test_name:person_key_is_one_to_one"]
    clean = run_dbt(paths, guard, check=False)
    assert clean.returncode == 0, clean.stdout[-2000:]
    ran = json.loads((paths.dbt_target / "run_results.json").read_text())["results"]
    # The guard alone passed (dbt's summary also counts the project's on-run-start hooks).
    [passed] = [r for r in ran if r["unique_id"].startswith("test.")]
    assert passed["status"] == "pass"
    assert passed["unique_id"].split(".")[2].startswith("person_key_is_one_to_one")
    forced = run_dbt(paths, [*guard, "--vars", "{person_key_modulus: 7}"], check=False)
    assert forced.returncode == 1
    assert "Failure in test person_key_is_one_to_one_stg_staff_in_post_" in forced.stdout
    # People are joined by key across the three extracts, so the guard covers all three.

    from pipelines.transform.project import DBT_DIR

    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    [guard_node] = [
        n for n in manifest["nodes"].values() if n["name"].startswith("person_key_is_one_to_one")
    ]
    # (and stg_submissions: which submissions an incremental build has not yet built)
    assert sorted(guard_node["depends_on"]["nodes"]) == [
        f"model.one_workforce.stg_{m}"
        for m in ("leavers", "sickness_absence", "staff_in_post", "submissions")
    ]


def test_an_incremental_build_checks_the_submissions_it_has_not_yet_built(pipeline, tmp_path):
    """In the monthly build's incremental builds, the data tests on each submission's own
    rows (uniqueness of staff in post and of sickness) check only the submissions the marts
    were not yet built from (macros/incremental.sql), and the person-key guard only the people
    of submissions int_person_checks does not hold yet; any other build checks every row. Shown with faults planted in the raw tables: one in a submission
    already built is not checked again, and the same fault in a submission the record no
    longer holds, as a new one would be, is caught."""
    from pipelines.transform.project import run_dbt

    paths = _copy_of_hub(pipeline, tmp_path)
    incremental = "{incremental_builds: true}"
    uniqueness = ["test", "--select", "stg_staff_in_post"]
    with duckdb.connect(str(paths.warehouse)) as wh:
        [(submission, org)] = wh.execute(
            "SELECT submission_id, org_code FROM meta.model_inputs"
            " WHERE model = 'fct_workforce_in_post' ORDER BY submission_id LIMIT 1"
        ).fetchall()
        # The same assignment twice in one built submission, and an FTE out of range.
        wh.execute(
            "INSERT INTO raw.staff_in_post SELECT * FROM raw.staff_in_post"
            " WHERE submission_id = ? LIMIT 1",
            [submission],
        )
        wh.execute(
            "UPDATE raw.staff_in_post SET fte = '5' WHERE submission_id = ?"
            " AND payload_row = (SELECT max(payload_row) FROM raw.staff_in_post"
            " WHERE submission_id = ?)",
            [submission, submission],
        )
    assert run_dbt(paths, uniqueness, check=False).returncode == 1
    checked = run_dbt(paths, [*uniqueness, "--vars", incremental], check=False)
    assert checked.returncode == 0, checked.stdout[-2000:]
    compiled = next((paths.dbt_target / "compiled").rglob("unique_combination_of_columns_*.sql"))
    assert "meta.model_inputs" in compiled.read_text()
    with duckdb.connect(str(paths.warehouse)) as wh:
        wh.execute("DELETE FROM meta.model_inputs WHERE submission_id = ?", [submission])
    caught = run_dbt(paths, [*uniqueness, "--vars", incremental], check=False)
    assert caught.returncode == 1
    assert "Failure in test unique_combination_of_columns_stg_staff_in_post_" in caught.stdout
    assert "Failure in test accepted_range_stg_staff_in_post_fte_" in caught.stdout

    # The guard, on another copy. In an incremental build it reads only the people of
    # submissions int_person_checks does not hold yet, and compares them with the (key,
    # check) pairs it holds. A tiny modulus makes two people share a key; the table is made
    # as if built under it. With every submission held there is nothing to read, and the
    # guard passes. Then one person's submission is dropped from the table (as a new one
    # would be missing), with their pairs elsewhere, and the collision, between a person not
    # yet held and one held before, is caught.
    (tmp_path / "guard").mkdir()
    paths = _copy_of_hub(pipeline, tmp_path / "guard")
    with duckdb.connect(str(paths.warehouse)) as wh:
        wh.execute(
            "CREATE TEMP TABLE p AS SELECT person_pseudonym AS value, submission_id"
            " FROM staging.stg_staff_in_post UNION SELECT person_pseudonym, submission_id"
            " FROM staging.stg_sickness_absence UNION SELECT person_pseudonym, submission_id"
            " FROM staging.stg_leavers"
        )
        for modulus in range(10**7, 10**7 + 5000):
            # A key two people share, and a submission of the second that the first is not in.
            found = wh.execute(
                "WITH k AS (SELECT *, hash(value) % $m AS key FROM p),"
                " s AS (SELECT key, min(value) AS a, max(value) AS b FROM k GROUP BY key"
                " HAVING count(DISTINCT value) > 1)"
                " SELECT s.key, s.b, min(k.submission_id) FROM s JOIN k ON k.key = s.key"
                " AND k.value = s.b WHERE k.submission_id NOT IN"
                " (SELECT submission_id FROM p WHERE value = s.a) GROUP BY ALL LIMIT 1",
                {"m": modulus},
            ).fetchone()
            if found:
                key, second, colliding = found
                break
        else:
            pytest.fail("no modulus found with a collision between two submissions")
        wh.execute(
            "UPDATE intermediate.int_person_checks SET person_id = person_id % $m", {"m": modulus}
        )
        [(held_pairs,)] = wh.execute(
            "SELECT count(DISTINCT person_check) FROM intermediate.int_person_checks"
            " WHERE person_id = $k",
            {"k": key},
        ).fetchall()
        assert held_pairs >= 2  # both people, as a table built under the modulus holds them
    guard = ["test", "--select", "test_name:person_key_is_one_to_one"]
    with_modulus = f"{{person_key_modulus: {modulus}}}"
    assert run_dbt(paths, [*guard, "--vars", with_modulus], check=False).returncode == 1
    built = f"{{person_key_modulus: {modulus}, incremental_builds: true}}"
    checked = run_dbt(paths, [*guard, "--vars", built], check=False)
    assert checked.returncode == 0, checked.stdout[-2000:]
    compiled = next((paths.dbt_target / "compiled").rglob("person_key_is_one_to_one_*.sql"))
    assert "int_person_checks" in compiled.read_text()
    with duckdb.connect(str(paths.warehouse)) as wh:
        wh.execute(
            "DELETE FROM intermediate.int_person_checks WHERE submission_id = $s"
            " OR (person_id = $k AND person_check = CAST('0x' || substr($v, 1, 16) AS UBIGINT))",
            {"s": colliding, "k": key, "v": second},
        )
    caught = run_dbt(paths, [*guard, "--vars", built], check=False)
    assert caught.returncode == 1
    assert "Failure in test person_key_is_one_to_one_stg_staff_in_post_" in caught.stdout
    # And with nothing held, both people are new: caught among themselves.
    with duckdb.connect(str(paths.warehouse)) as wh:
        wh.execute("DELETE FROM intermediate.int_person_checks")
    among_new = run_dbt(paths, [*guard, "--vars", built], check=False)
    assert among_new.returncode == 1
    assert "Failure in test person_key_is_one_to_one_stg_staff_in_post_" in among_new.stdout


def _copy_of_hub(pipeline, tmp_path):
    """A hub holding a copy of the built warehouse (the `wh` fixture keeps the original open,
    and DuckDB lets no other process write to it meanwhile)."""
    import shutil

    from pipelines.hub.home import HubPaths

    paths = HubPaths.at(tmp_path / "hub", pipeline["paths"].governance)
    paths.root.mkdir()
    shutil.copyfile(pipeline["paths"].warehouse, paths.warehouse)
    return paths


def test_unit_tests_run_outside_the_monthly_build(pipeline, tmp_path):
    """The monthly build leaves the dbt unit tests out; `owf models unit-test` runs every one."""
    import json

    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.defs.transform import BUILD_ARGS
    from pipelines.transform.project import DBT_DIR

    assert BUILD_ARGS[:3] == ["build", "--exclude-resource-type", "unit_test"]
    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    expected = len(manifest["unit_tests"])
    assert expected >= 16
    paths = _copy_of_hub(pipeline, tmp_path)
    shared = DBT_DIR / "target" / "manifest.json"
    before = shared.stat()
    result = CliRunner().invoke(app, ["models", "unit-test", "--hub", str(paths.root)])
    assert result.exit_code == 0, result.output
    assert f"dbt unit tests: {expected} passed, 0 failed" in result.output
    # dbt rewrites its manifest in place at the end of every command: this one's files go to
    # the hub's target folder, never over the manifest other processes are reading.
    after = shared.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    run = json.loads((paths.dbt_target / "run_results.json").read_text())
    # Every unit test, and nothing else but the project's on-run-start hooks (no-ops here).
    units = [r for r in run["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(units) == expected
    assert {r["unique_id"].split(".")[0] for r in run["results"]} <= {"unit_test", "operation"}
    assert (paths.dbt_target / "dbt.log").exists()
