"""The warehouse DuckDB file: one writer at a time, and the raw schema derived from the standard.

DuckDB allows one writing process per file. Every writer (ingestion, dbt, publication,
quarantine release, retention) takes an exclusive lock on <hub>/warehouse.lock first and
holds it until its connection is closed, so packages arriving together queue instead of
failing on DuckDB's own lock. Dagster's "warehouse" concurrency pool does the same between
runs on a Dagster instance; the file lock also covers the command line and any process
outside Dagster.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.hub.home import HubPaths
from pipelines.standard import SUBMITTED, Standard
from pipelines.standard.validator import qi

PAYLOAD_SQL_TYPES = {"integer": "BIGINT", "decimal": "DOUBLE", "date": "DATE"}
SUBMISSION_STATUSES = (
    "accepted",
    "superseded",
    "quarantined",
    "refused",
    "released",
    "discarded",
    "purged",
)


@contextlib.contextmanager
def warehouse_lock(paths: HubPaths, timeout: float = 3600.0) -> Iterator[None]:
    """Exclusive lock on the warehouse; waits (up to `timeout` seconds) for other writers."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another process has held {paths.lock} for {timeout:.0f}s"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def connect(paths: HubPaths, *, write: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse; writers hold the warehouse lock while it is open."""
    if write:
        with warehouse_lock(paths):
            con = duckdb.connect(str(paths.warehouse))
            try:
                yield con
            finally:
                con.close()
    else:
        con = duckdb.connect(str(paths.warehouse), read_only=True)
        try:
            yield con
        finally:
            con.close()


def raw_table(extract: str) -> str:
    return f"raw.{qi(extract)}"


def ensure_schema(con: duckdb.DuckDBPyConnection, std: Standard) -> None:
    """raw.submissions, one raw table per extract (the standard's submitted form plus lineage),
    and audit.events. Idempotent; new optional fields of a later standard are added as columns."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS raw.submissions (
            submission_id VARCHAR PRIMARY KEY,
            package_sha256 VARCHAR NOT NULL,
            org_code VARCHAR,
            extract VARCHAR,
            period VARCHAR,
            standard_version VARCHAR,
            agreement_id VARCHAR,
            key_epoch INTEGER,
            hub_key_epoch INTEGER,
            row_count BIGINT,
            fields VARCHAR[],
            profile VARCHAR,
            tool_version VARCHAR,
            created_at VARCHAR,
            received_at TIMESTAMP,
            decided_at TIMESTAMP,
            status VARCHAR NOT NULL,
            status_reason VARCHAR,
            superseded_by VARCHAR,
            package_file VARCHAR,
            retention_months INTEGER
        )
        """
    )
    for name, extract in std.extracts.items():
        cols = [
            "submission_id VARCHAR NOT NULL",
            "payload_row BIGINT NOT NULL",
            "key_epoch INTEGER NOT NULL",
            "hub_key_epoch INTEGER NOT NULL",
        ]
        for f in extract.fields_in(SUBMITTED):
            cols.append(f"{qi(f.name)} {PAYLOAD_SQL_TYPES.get(f.type, 'VARCHAR')}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(name)} ({', '.join(cols)})")
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' AND table_name = $t",
                {"t": name},
            ).fetchall()
        }
        for f in extract.fields_in(SUBMITTED):
            if f.name not in existing:
                con.execute(
                    f"ALTER TABLE {raw_table(name)} ADD COLUMN {qi(f.name)} {PAYLOAD_SQL_TYPES.get(f.type, 'VARCHAR')}"
                )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS audit.events (
            seq BIGINT PRIMARY KEY,
            event_at TIMESTAMP NOT NULL,
            event VARCHAR NOT NULL,
            actor VARCHAR NOT NULL,
            submission_id VARCHAR,
            org_code VARCHAR,
            extract VARCHAR,
            period VARCHAR,
            detail VARCHAR,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL
        )
        """
    )


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
            {"s": schema, "t": table},
        ).fetchall()[0][0]
    )


def warehouse_exists(paths: HubPaths) -> bool:
    return Path(paths.warehouse).exists()


def refresh_governance_tables(con: duckdb.DuckDBPyConnection, gov) -> None:
    """Copy the registry into the warehouse (governance.*), for the models that need it:
    which organisations exist, and which extracts each agreement expects from whom, when."""
    import pyarrow as pa

    con.execute("CREATE SCHEMA IF NOT EXISTS governance")
    orgs = pa.table(
        {
            "org_code": [o.ods_code for o in gov.organisations.values()],
            "org_name": [o.name for o in gov.organisations.values()],
            "sector": [o.sector for o in gov.organisations.values()],
            "kind": [o.kind for o in gov.organisations.values()],
            "is_hub_operator": [o.ods_code == gov.hub_operator for o in gov.organisations.values()],
        }
    )
    rows = {
        k: []
        for k in (
            "agreement_id",
            "org_code",
            "extract",
            "start_date",
            "end_date",
            "status",
            "suppress_max",
            "round_to",
        )
    }
    for a in gov.agreements.values():
        for party in a.parties:
            if party.ods_code == gov.hub_operator:
                continue
            for extract in a.extracts:
                rows["agreement_id"].append(a.id)
                rows["org_code"].append(party.ods_code)
                rows["extract"].append(extract)
                rows["start_date"].append(a.start_date)
                rows["end_date"].append(a.end_date)
                rows["status"].append(a.status)
                rows["suppress_max"].append(a.disclosure.suppress_max)
                rows["round_to"].append(a.disclosure.round_to)
    agreements = pa.table(
        rows,
        schema=pa.schema(
            [
                ("agreement_id", pa.string()),
                ("org_code", pa.string()),
                ("extract", pa.string()),
                ("start_date", pa.date32()),
                ("end_date", pa.date32()),
                ("status", pa.string()),
                ("suppress_max", pa.int32()),
                ("round_to", pa.int32()),
            ]
        ),
    )
    for name, table in (("organisations", orgs), ("agreement_extracts", agreements)):
        con.register("owf_gov_incoming", table)
        con.execute(f"CREATE OR REPLACE TABLE governance.{name} AS SELECT * FROM owf_gov_incoming")  # noqa: S608
        con.unregister("owf_gov_incoming")
