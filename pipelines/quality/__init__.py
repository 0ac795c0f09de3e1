"""Data-quality checks: the Great Expectations suites of expectations/ and their runner."""
