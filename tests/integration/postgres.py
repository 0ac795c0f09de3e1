"""A throwaway PostgreSQL cluster, a copy of a hub warehouse's inputs into it, and a
comparison of relations between the two engines: what the PostgreSQL portability test
(test_postgres.py) is built from.

The hub only ever writes DuckDB; nothing here is part of the product.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The schemas the hub writes and dbt reads: the accepted submissions and the registry.
INPUT_SCHEMAS = ("raw", "governance")

# DuckDB column types of those schemas, as PostgreSQL types. Anything else is refused, so a
# new column type is noticed here rather than loaded wrongly.
PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BOOLEAN": "boolean",
    "VARCHAR[]": "text[]",
}

BINARIES = ("initdb", "pg_ctl", "postgres")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


@dataclass(frozen=True)
class Cluster:
    socket_dir: Path
    port: int
    user: str = "owf"
    dbname: str = "postgres"

    def dsn(self) -> str:
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={self.dbname}"

    def dbt_env(self, schema: str = "main") -> dict[str, str]:
        """The environment variables the profile's `postgres` target reads."""
        return {
            "OWF_PG_HOST": str(self.socket_dir),
            "OWF_PG_PORT": str(self.port),
            "OWF_PG_USER": self.user,
            "DBT_ENV_SECRET_OWF_PG_PASSWORD": "",
            "OWF_PG_DBNAME": self.dbname,
            "OWF_PG_SCHEMA": schema,
        }


@contextmanager
def throwaway_cluster(port: int = 55439) -> Iterator[Cluster]:
    """initdb a cluster in a new temporary folder (trust authentication, a Unix socket only,
    no TCP, no durability, C collation) and start it; stopped and deleted on exit.

    initdb refuses to run as root: as root, the binaries run as the `postgres` user, on a
    folder it owns directly under the system's temporary folder (pytest's own temporary
    folders are private to the user running the tests)."""
    base = Path(tempfile.mkdtemp(prefix="owf-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run("initdb", "-D", str(data), "-U", "owf", "--auth=trust", "-E", "UTF8", "--no-locale")
        options = (
            f"-k {sock} -c listen_addresses='' -p {port}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        try:
            yield Cluster(sock, port)
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _csv_field(value) -> str:
    """One CSV field for COPY: null is an unquoted empty field, every value is quoted (so an
    empty string stays an empty string), lists become PostgreSQL array literals."""
    if value is None:
        return ""
    if isinstance(value, list):
        items = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value)
        value = "{" + ",".join(items) + "}"
    elif isinstance(value, float):
        value = repr(value)  # every digit: the value round-trips exactly
    return '"' + str(value).replace('"', '""') + '"'


def copy_inputs(warehouse: Path, dsn: str, schemas: tuple[str, ...] = INPUT_SCHEMAS) -> dict:
    """Copy every table of `schemas` from the DuckDB warehouse into PostgreSQL (replacing
    tables of the same name, and the views dbt built on them); returns {schema.table: rows}. Names are quoted identifiers
    throughout, never pasted into SQL."""
    import psycopg2
    from psycopg2 import sql

    counts = {}
    with (
        duckdb.connect(str(warehouse), read_only=True) as src,
        closing(psycopg2.connect(dsn)) as pg,
    ):
        pg.autocommit = True
        cur = pg.cursor()
        for schema in schemas:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            tables = src.execute(
                "select table_name from duckdb_tables() where schema_name = ? order by 1", [schema]
            ).fetchall()
            for (table,) in tables:
                columns = src.execute(
                    "select column_name, data_type from duckdb_columns()"
                    " where schema_name = ? and table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                unknown = [(c, t) for c, t in columns if t not in PG_TYPES]
                assert not unknown, f"{schema}.{table}: no PostgreSQL type for {unknown}"
                name = sql.Identifier(schema, table)
                cur.execute(sql.SQL("drop table if exists {} cascade").format(name))
                cur.execute(
                    sql.SQL("create table {} ({})").format(
                        name,
                        sql.SQL(", ").join(
                            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES[t]))
                            for c, t in columns
                        ),
                    )
                )
                rows = src.execute(
                    sql.SQL("select * from {}").format(name).as_string(cur)
                ).fetchall()
                buf = io.StringIO()
                buf.writelines(",".join(map(_csv_field, row)) + "\n" for row in rows)
                buf.seek(0)
                cur.copy_expert(sql.SQL("copy {} from stdin with (format csv)").format(name), buf)
                # Statistics now: a table just loaded has none until autovacuum runs, and
                # the planner's guesses made the staging tests 10 times slower.
                cur.execute(sql.SQL("analyze {}").format(name))
                counts[f"{schema}.{table}"] = len(rows)
    return counts


def duckdb_relations(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = ?"
            " union select view_name from duckdb_views() where schema_name = ? and not internal"
            " order by 1",
            [schema, schema],
        ).fetchall()
    ]


def pg_relations(cur, schema: str) -> list[str]:
    cur.execute(
        "select table_name from information_schema.tables where table_schema = %s order by 1",
        [schema],
    )
    return [r[0] for r in cur.fetchall()]


def differences(
    columns: list[str], left: list[tuple], right: list[tuple], rel_tol: float = 1e-9
) -> list[str]:
    """How two row sets differ (empty when they are the same rows, in any order): floats equal
    within `rel_tol` relative (or 1e-12 absolute, for zeros), everything else exactly, with
    its Python type (int, str, date, bool, None)."""

    def is_float(v) -> bool:
        return isinstance(v, float)

    def key(row: tuple) -> tuple:
        # The exact part of a row (its non-float values, and where its floats are).
        return tuple(("<float>" if is_float(v) else (type(v).__name__, v)) for v in row)

    found: list[str] = []
    groups_left: dict[tuple, list[tuple]] = {}
    groups_right: dict[tuple, list[tuple]] = {}
    for rows, groups in ((left, groups_left), (right, groups_right)):
        for row in rows:
            groups.setdefault(key(row), []).append(row)
    only_left = Counter({k: len(v) for k, v in groups_left.items()})
    only_right = Counter({k: len(v) for k, v in groups_right.items()})
    for k in (only_left - only_right) | (only_right - only_left):
        side = "duckdb" if only_left[k] > only_right[k] else "postgres"
        found.append(
            f"{side} only: {dict(zip(columns, groups_left.get(k, groups_right.get(k))[0], strict=True))}"
        )
    for k, rows_left in groups_left.items():
        rows_right = groups_right.get(k, [])
        if len(rows_left) != len(rows_right):
            continue  # reported above
        floats = [i for i, part in enumerate(k) if part == "<float>"]
        pairs = zip(
            sorted(tuple(r[i] for i in floats) for r in rows_left),
            sorted(tuple(r[i] for i in floats) for r in rows_right),
            strict=True,
        )
        for a, b in pairs:
            for i, x, y in zip(floats, a, b, strict=True):
                if not math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12):
                    found.append(
                        f"{columns[i]}: duckdb {x!r}, postgres {y!r} in {dict(zip(columns, rows_left[0], strict=True))}"
                    )
    return found
