"""Incremental builds: whether the monthly dbt build may build the record-level models
incrementally, or must build everything.

The record-level models (int_assignments_harmonised, int_person_months, int_memberships) are
incremental by submission (dbt_project/macros/incremental.sql): an incremental build
re-derives only the rows of submissions that came or went since the models were built. That
is exact only while everything else the models read is unchanged: the project's code (models,
macros, vars, profile), the standard's code lists (the seeds), the governance registry in the
warehouse (agreements, permitted fields), what the build day decides (which agreements are in
force: one comes into or goes out of force with the calendar) and the tools (dbt, its adapter,
DuckDB). This module fingerprints all of them. The build step compares the fingerprint with the one recorded by
the last successful build in the warehouse itself (meta.model_builds, so that a restored or
copied warehouse carries its own) and asks dbt for a full build when they differ, forgetting
the recorded one first: a full build that fails part-way leaves no fingerprint, so the next
build is a full one too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata

import duckdb

from pipelines.paths import PROJECT_ROOT
from pipelines.transform.project import DBT_DIR

# Raise to make every hub's next build a full one (a change the file hashes cannot see).
FINGERPRINT_VERSION = "1"
CODELISTS = PROJECT_ROOT / "governance" / "standard" / "codelists"
# What dbt writes inside the project: not inputs.
_NOT_INPUTS = {"target", "logs", "dbt_packages", "__pycache__", ".user.yml"}
_TOOLS = ("dbt-core", "dbt-duckdb", "duckdb")


def _project_files():
    for path in sorted(DBT_DIR.rglob("*")):
        relative = path.relative_to(DBT_DIR)
        if path.is_file() and not _NOT_INPUTS.intersection(relative.parts):
            yield f"dbt_project/{relative.as_posix()}", path
    for path in sorted(CODELISTS.rglob("*")):
        if path.is_file():
            yield f"codelists/{path.relative_to(CODELISTS).as_posix()}", path


def build_day(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The build day: the database's current_date, what dbt's as_of_date() uses when nothing
    sets it. The build step gives it to dbt as the environment variable OWF_AS_OF_DATE, so
    that a build running past midnight uses one day throughout, the day it was fingerprinted
    with."""
    return con.execute("SELECT current_date").fetchall()[0][0]


def build_fingerprint(con: duckdb.DuckDBPyConnection, day: dt.date | None = None) -> str:
    """The fingerprint of everything but the submissions that the models read, taken from the
    warehouse `con` (its governance tables and, unless `day` is given, its current date) and
    the project on disk."""
    h = hashlib.sha256()

    def add(label: str, value: bytes) -> None:
        h.update(f"{label}\0{len(value)}\0".encode())
        h.update(value)

    add("version", FINGERPRINT_VERSION.encode())
    for tool in _TOOLS:
        add(f"tool:{tool}", importlib.metadata.version(tool).encode())
    for label, path in _project_files():
        add(f"file:{label}", path.read_bytes())
    tables = [
        table
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'governance'"
            " ORDER BY table_name"
        ).fetchall()
    ]
    for table in tables:
        rows = sorted(repr(row) for row in con.table(f"governance.{table}").fetchall())
        add(f"governance:{table}", "\n".join(rows).encode())
    # The build day reaches the models only through in_force() (dbt_project/macros/
    # agreements.sql): which agreement rows are in force on it. Those rows are fingerprinted,
    # by the macro's own condition, not the day: a later day on which no agreement came into
    # or went out of force builds incrementally (a resubmission the day after the month's
    # build was a full build, docs/benchmarks.md "A resubmission on a later day").
    in_force = (
        con.execute(
            "SELECT agreement_id, org_code, extract FROM governance.agreement_extracts"
            " WHERE status = 'active' AND start_date <= $day AND end_date >= $day"
            " ORDER BY ALL",
            {"day": day or build_day(con)},
        ).fetchall()
        if "agreement_extracts" in tables
        else []
    )
    add("in_force", "\n".join(repr(row) for row in in_force).encode())
    return h.hexdigest()


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    con.execute(
        "CREATE TABLE IF NOT EXISTS meta.model_builds"
        " (fingerprint VARCHAR NOT NULL, built_at TIMESTAMP NOT NULL, build_day DATE)"
    )
    # Made before the build day was recorded (by this code or dbt's on-run-start hook).
    con.execute("ALTER TABLE meta.model_builds ADD COLUMN IF NOT EXISTS build_day DATE")


_RECORDED = {
    "fingerprint": "SELECT fingerprint FROM meta.model_builds",
    "build_day": "SELECT build_day FROM meta.model_builds",
}


def _recorded(con: duckdb.DuckDBPyConnection, column: str):
    """`column` of the last successful build's record: None if there is no record (or no
    such column, in a table made before it was recorded)."""
    present = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'meta'"
        " AND table_name = 'model_builds' AND column_name = $column",
        {"column": column},
    ).fetchall()[0][0]
    if not present:
        return None
    rows = con.execute(_RECORDED[column]).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the last successful build, if any is recorded."""
    return _recorded(con, "fingerprint")


def forget_fingerprint(con: duckdb.DuckDBPyConnection) -> None:
    _ensure_table(con)
    con.execute("DELETE FROM meta.model_builds")


def record_fingerprint(
    con: duckdb.DuckDBPyConnection, fingerprint: str, day: dt.date | None = None
) -> None:
    """Record a successful build: its fingerprint and its build day `day` (what the models'
    in_force() used; the publication gate reads it, recorded_build_day)."""
    _ensure_table(con)
    con.execute("BEGIN")
    con.execute("DELETE FROM meta.model_builds")
    con.execute(
        "INSERT INTO meta.model_builds (fingerprint, built_at, build_day) VALUES ($f, $at, $day)",
        {"f": fingerprint, "at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "day": day},
    )
    con.execute("COMMIT")


def recorded_build_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The build day of the last successful monthly build, if one is recorded (none after a
    build by other means, which forgets the record, or one recorded before days were)."""
    return _recorded(con, "build_day")


def plan_build(con: duckdb.DuckDBPyConnection, day: dt.date | None = None) -> tuple[str, bool]:
    """(fingerprint, full): full when it differs from the last successful build's, in which
    case the recorded one is forgotten before the build starts. `day`: the build day."""
    fingerprint = build_fingerprint(con, day)
    full = recorded_fingerprint(con) != fingerprint
    if full:
        forget_fingerprint(con)
    return fingerprint, full
