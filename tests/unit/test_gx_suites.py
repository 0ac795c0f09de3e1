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
