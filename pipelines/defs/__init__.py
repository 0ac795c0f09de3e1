"""Dagster wiring, one folder per stage. Logic lives in pure modules (pipelines.hub,
pipelines.quality, ...); these modules only declare assets, checks, jobs, sensors and
schedules around it."""
