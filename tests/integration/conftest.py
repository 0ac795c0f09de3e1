"""Fixtures shared by the integration test modules."""

from __future__ import annotations

import pytest

from pipelines.cli_models import run_models_job
from tests.integration.small_system import ingested_small_system


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """A small system generated, submitted, ingested and modelled by the Dagster models job
    (dbt build on DuckDB): about a minute, so built once for every module that reads it
    (test_models.py, test_postgres.py). Read it, never change it: copy the hub to write."""
    world = ingested_small_system(tmp_path_factory.mktemp("models"), own_governance=True)
    return world | {"models": run_models_job(world["paths"])}
