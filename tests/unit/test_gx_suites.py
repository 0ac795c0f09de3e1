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
