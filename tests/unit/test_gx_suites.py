"""The GX runner: real Great Expectations on small frames; failures carry keys, not values."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.quality.gx_suites import GxRunner, load_suite


@pytest.fixture(scope="module")
def runner():
    return GxRunner()


def test_a_failing_expectation_reports_the_keys_of_its_rows_and_never_the_values(runner):
    suite = load_suite("submission_volumes")
    frame = pd.DataFrame({"submission_id": ["s1", "s2", "s3"], "volume_ratio": [1.0, 0.3, None]})
    result = runner.validate(suite, frame)
    assert not result.success
    [failure] = result.failures
    assert (failure.submission_id, failure.rule) == ("s2", "plausible_volume")
    assert "0.3" not in failure.message and set(failure.keys) == {"submission_id"}


def test_a_suite_that_returns_no_result_for_an_expectation_fails(runner, monkeypatch):
    # As if GX dropped an expectation: the suite it runs is empty, ours has one expectation.
    monkeypatch.setattr(
        GxRunner, "_gx_suite", lambda self, suite: self.gx.ExpectationSuite(name=suite.name)
    )
    suite = load_suite("submission_volumes")
    result = runner.validate(suite, pd.DataFrame({"submission_id": ["s1"], "volume_ratio": [1.0]}))
    assert not result.success
    assert [f.rule for f in result.failures] == ["no_result"]
    assert "a check that emits nothing fails" in result.failures[0].message


def test_pseudonyms_reach_gx_as_hashes_and_uniqueness_still_catches_a_duplicate(runner):
    import duckdb

    from pipelines.quality.gx_suites import batch_sql

    p1, p2, a1 = ("a" * 64), ("b" * 64), ("c" * 64)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE owf_gx AS SELECT * FROM (VALUES"
        " ('s1', 2, $p1, $a1, 1.0, 37.5, 'FT'),"
        " ('s1', 3, $p2, $a1, 1.0, 37.5, 'FT'),"
        " ('s1', 4, $p1, $a1, 0.8, 30.0, 'PT'),"  # row 2 again: a duplicate
        " ('s2', 2, $p1, $a1, 1.0, 37.5, 'FT'))"  # the same person in another submission: fine
        " AS t(submission_id, payload_row, person_id, assignment_id, fte, contracted_hours,"
        " working_pattern)",
        {"p1": p1, "p2": p2, "a1": a1},
    )
    suite = load_suite("staff_in_post")
    available = {r[0] for r in con.execute("DESCRIBE owf_gx").fetchall()}
    sql = batch_sql(suite, "owf_gx", available, hashed={"person_id", "assignment_id"})
    frame = con.sql(sql).df()
    assert str(frame["person_id"].dtype) == "uint64"  # no pseudonym text goes to GX
    assert p1 not in frame.astype(str).to_numpy()
    result = runner.validate(suite, frame)
    dupes = [f for f in result.failures if f.rule == "one_row_per_person_and_assignment"]
    assert sorted((f.submission_id, f.payload_row) for f in dupes) == [("s1", 2), ("s1", 4)]
    assert {f.rule for f in result.failures} == {"one_row_per_person_and_assignment"}


def test_organisations_present_expects_by_the_build_s_day_not_the_gate_s(tmp_path):
    """The gate expects every organisation with a staff-in-post agreement in force on the day
    the models were built with (as in_force() does), not on the gate's own day: they differ
    for a build that ran past midnight. Here the only agreement is in force on the recorded
    build day alone, and its organisation has no rows."""
    import datetime as dt

    import duckdb

    from pipelines.hub.home import HubPaths
    from pipelines.quality.mart_checks import run_mart_suites
    from pipelines.transform.incremental import record_fingerprint

    paths = HubPaths.at(tmp_path / "hub", tmp_path / "hub" / "governance")
    paths.root.mkdir(parents=True)
    day = dt.date(2030, 1, 1)
    con = duckdb.connect(str(paths.warehouse))
    con.execute("CREATE SCHEMA governance")
    con.execute(
        "CREATE TABLE governance.agreement_extracts AS SELECT 'DSA-9' AS agreement_id,"
        " 'X01' AS org_code, 'staff_in_post' AS extract, DATE '2029-01-01' AS start_date,"
        " DATE '2030-01-01' AS end_date, 'active' AS status"
    )
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_workforce_in_post AS"
        " SELECT 'Y02' AS org_code, '2029-12' AS period, 'organisation' AS level"
    )
    con.close()

    def present() -> list:
        [check] = run_mart_suites(paths, ["organisations_present"])
        return [(f.keys.get("org_code"), f.rule) for f in check.result.failures]

    assert present() == []  # no build recorded: today's agreements, and X01's is not in force
    with duckdb.connect(str(paths.warehouse)) as con:
        record_fingerprint(con, "f", day)
    assert [org for org, _ in present()] == ["X01"]
