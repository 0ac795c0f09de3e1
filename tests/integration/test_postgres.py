"""The dbt project on PostgreSQL: built, tested and compared with DuckDB.

The small system of test_models.py (generated, submitted, ingested and modelled on DuckDB by
the Dagster models job; the shared `pipeline` fixture) has its warehouse's inputs, the `raw`
and `governance` schemas, copied into a throwaway PostgreSQL 15 cluster. `dbt build --target
postgres` then builds every seed and model there and runs every data test and unit test;
every mart and every published view must then hold the same rows on both engines: integers,
text and dates exactly, doubles to 1e-9 relative.

Skipped only when the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not on PATH.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import duckdb
import pytest

from pipelines.transform.project import DBT_DIR, dbt_env, dbt_executable
from tests.integration.postgres import (
    copy_inputs,
    differences,
    duckdb_relations,
    missing_binaries,
    pg_relations,
    throwaway_cluster,
)

pytestmark = pytest.mark.slow

# What planners see, and what it is computed from: every relation of these schemas.
COMPARED_SCHEMAS = ("marts", "published")
MODELS = [
    (schema, path.stem)
    for schema in COMPARED_SCHEMAS
    for path in sorted((DBT_DIR / "models" / schema).glob("*.sql"))
]


# Session scope, like `pipeline`: pytest sets up wider-scoped fixtures first, so a module-scoped
# check would come after the minute of building the small system it is meant to save.
@pytest.fixture(scope="session")
def postgres_binaries():
    missing = missing_binaries()
    if missing:
        pytest.skip(f"PostgreSQL server binaries not on PATH: {', '.join(missing)}")


@pytest.fixture(scope="module")
def postgres(postgres_binaries, pipeline, tmp_path_factory):
    """The pipeline's warehouse inputs in a fresh PostgreSQL cluster, and `dbt build --target
    postgres` run on them (into its own target folder, leaving the project's alone)."""
    import psycopg2

    work = tmp_path_factory.mktemp("postgres")
    with throwaway_cluster() as cluster:
        loaded = copy_inputs(pipeline["paths"].warehouse, cluster.dsn())
        build = subprocess.run(
            [
                dbt_executable(),
                "build",
                "--target",
                "postgres",
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(work / "target"),
                "--log-path",
                str(work / "logs"),
            ],
            cwd=DBT_DIR,
            env=dbt_env() | cluster.dbt_env(),
            capture_output=True,
            text=True,
            timeout=1200,
        )
        con = psycopg2.connect(cluster.dsn())
        try:
            yield {"loaded": loaded, "build": build, "target": work / "target", "con": con}
        finally:
            con.close()


@pytest.fixture(scope="module")
def wh(pipeline):
    con = duckdb.connect(str(pipeline["paths"].warehouse), read_only=True)
    yield con
    con.close()


def test_the_warehouse_inputs_are_copied_whole(postgres, wh):
    from psycopg2 import sql

    cur = postgres["con"].cursor()
    expected = {
        f"{schema}.{table}": wh.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table)).as_string(cur)
        ).fetchone()[0]
        for schema in ("raw", "governance")
        for table in duckdb_relations(wh, schema)
    }
    assert postgres["loaded"] == expected
    assert expected["raw.staff_in_post"] > 1000


def test_dbt_build_passes_on_postgres_with_every_seed_model_and_test(postgres):
    build = postgres["build"]
    assert build.returncode == 0, build.stdout[-6000:]
    results = json.loads((postgres["target"] / "run_results.json").read_text())["results"]
    manifest = json.loads((postgres["target"] / "manifest.json").read_text())
    # Everything in the project ran: seeds, models, data tests and unit tests (the monthly
    # build leaves unit tests out; this one does not).
    ran = Counter(r["unique_id"].split(".")[0] for r in results)
    # And the project's four on-run-start hooks (macros/incremental.sql): the marts' record of
    # what they were built from, and the monthly build's fingerprint, forgotten here.
    assert ran.pop("operation") == 4
    in_project = Counter(n["resource_type"] for n in manifest["nodes"].values()) + Counter(
        {"unit_test": len(manifest["unit_tests"])}
    )
    assert ran == {
        k: v for k, v in in_project.items() if k in ("seed", "model", "test", "unit_test")
    }
    assert ran["unit_test"] >= 17 and ran["model"] >= 35
    # As on DuckDB, only the warn-severity test flagging the synthetic unmapped titles warns.
    not_passed = [
        (r["unique_id"].split(".")[2], r["status"])
        for r in results
        if r["status"] not in ("success", "pass")
    ]
    assert not_passed == [("fct_data_quality_no_open_warnings", "warn")]


def test_both_engines_hold_the_same_marts_and_published_views(postgres, wh):
    cur = postgres["con"].cursor()
    for schema in COMPARED_SCHEMAS:
        expected = sorted(name for s, name in MODELS if s == schema)
        assert duckdb_relations(wh, schema) == expected
        assert pg_relations(cur, schema) == expected


@pytest.mark.parametrize(("schema", "relation"), MODELS, ids=[m for _, m in MODELS])
def test_every_row_is_the_same_on_both_engines(postgres, wh, schema, relation):
    from psycopg2 import sql

    cur = postgres["con"].cursor()
    query = sql.SQL("select * from {}").format(sql.Identifier(schema, relation)).as_string(cur)
    on_duckdb = wh.execute(query)
    columns = [c[0] for c in on_duckdb.description]
    left = on_duckdb.fetchall()
    cur.execute(query)
    assert [c[0] for c in cur.description] == columns
    right = cur.fetchall()
    assert len(left) == len(right) > 0
    found = differences(columns, left, right, rel_tol=1e-9)
    assert not found, f"{len(found)} differences, the first: {found[:5]}"


def test_the_comparison_notices_any_difference():
    columns = ["period", "headcount", "rate"]
    row = ("2026-10", 3, 0.25)
    assert differences(columns, [row], [("2026-10", 3, 0.25 * (1 + 1e-12))]) == []
    assert differences(columns, [row], [("2026-10", 3, 0.2500001)])
    assert differences(columns, [row], [("2026-10", 4, 0.25)])
    assert differences(columns, [row], [("2026-10", 3.0, 0.25)])  # an integer became a double
    assert differences(columns, [row], [("2026-10", 3, None)])
    assert differences(columns, [row, row], [row])
