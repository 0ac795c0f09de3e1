"""Dagster's SQLite storage, keeping one SQLAlchemy engine per database file.

Dagster's default storage (SQLite under $DAGSTER_HOME: one database per run for its events,
an index database, a runs database) makes a new SQLAlchemy engine for every statement it
runs, and disposes of it after. An engine's compiled-statement cache goes with it, so every
statement is compiled afresh, and a publish run stores about 480 events, several statements
each: in a resubmission's cycle that was 1.5-2.5 s of the Dagster process's CPU, on the two
cores dbt is building on (docs/benchmarks.md, "dbt's exit and Dagster's storage").

`HubSqliteStorage` is that storage with the same files, folders, tables and locking, except
that each database file keeps its engine (the last ENGINES_KEPT used, for a long-lived
webserver or daemon that reads many runs). Connections are still opened for each use and
closed after it (SQLAlchemy's NullPool, as Dagster has it), so what other processes see, and
when, is unchanged; the webserver, the daemon and the command line can share a
$DAGSTER_HOME whichever storage class each uses. dagster.yaml names it (storage: custom).

It replaces two methods of Dagster's classes that are not public API (`_connect` and
`connect`) and builds the default storage's parts itself; tests/integration/
test_dagster_storage.py runs real jobs on it beside Dagster's own storage on the same files,
so a Dagster upgrade that changes those internals fails there, not in a hub's run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import _check as check
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

ENGINES_KEPT = 32


class _Engines:
    """SQLAlchemy engines (NullPool) by connection string, the last ENGINES_KEPT used."""

    def __init__(self, **engine_args: Any):
        self._args = engine_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            engine = self._engines.pop(conn_string, None)
            if engine is None:
                engine = create_engine(conn_string, poolclass=NullPool, **self._args)
            self._engines[conn_string] = engine
            while len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class HubSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log storage; each shard's database keeps its engine."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines = _Engines(connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As SqliteEventLogStorage._connect, with the shard's engine kept, not made and
        # disposed of each time.
        with self._db_lock:
            check.str_param(shard, "shard")
            engine = self._engines.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class HubSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage; its database keeps its engine."""

    def __init__(self, conn_string: str, inst_data=None):
        self._engines = _Engines()  # before Dagster's __init__, in case it connects
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engines.get(self._conn_string).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class HubSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage ($DAGSTER_HOME/history, history/runs, schedules)
    with the two storages above for runs and events."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = HubSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = HubSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
