"""Dagster's SQLite storage, keeping one SQLAlchemy engine, and its connections, per database.

Dagster's default storage (SQLite under $DAGSTER_HOME: one database per run for its events,
an index database, a runs database) makes a new SQLAlchemy engine for every statement it
runs, with no pool (NullPool), and disposes of it after. So every statement is compiled
afresh, and every use opens the database file and closes it again - and the close of a
database's last connection checkpoints its write-ahead log into it and deletes the log. A
publish run stores about 480 events, several statements each: in a resubmission's cycle that
was 3-4 s of the Dagster process's CPU, on the two cores dbt is building on
(docs/benchmarks.md, "dbt's exit and Dagster's storage" and "Dagster's connections").

`HubSqliteStorage` is that storage with the same files, folders, tables and locking, except
that each database file keeps its engine (the last ENGINES_KEPT used, for a long-lived
webserver or daemon that reads many runs), and each engine keeps its connections in a pool
(SQLAlchemy's QueuePool, its default for SQLite files). A connection is checked out for each
use and goes back to the pool committed or rolled back, so between uses it holds no
transaction and no lock: what other processes see, and when, is unchanged, and the
webserver, the daemon and the command line can share a $DAGSTER_HOME whichever storage class
each uses. What differs is the write-ahead log: it is checkpointed by SQLite's automatic
checkpoint (every 1,000 pages) and when the process lets its connections go, not after every
statement. A child made by fork() never uses the connections it inherited: it drops its
engines' pools without closing them (SQLAlchemy's advice for pools and os.fork) and opens its
own. dagster.yaml names this storage (storage: custom).

It replaces two methods of Dagster's classes that are not public API (`_connect` and
`connect`) and builds the default storage's parts itself; tests/integration/
test_dagster_storage.py runs real jobs on it beside Dagster's own storage on the same files,
so a Dagster upgrade that changes those internals fails there, not in a hub's run.
"""

from __future__ import annotations

import os
import threading
import weakref
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
from sqlalchemy.pool import QueuePool

ENGINES_KEPT = 32
IDLE_CONNECTIONS = 2


class _Engines:
    """SQLAlchemy engines by connection string, each with its pool of connections, the last
    ENGINES_KEPT used."""

    def __init__(self, **engine_args: Any):
        self._args = engine_args
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        _ALL_ENGINES.add(self)

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            engine = self._engines.pop(conn_string, None)
            if engine is None:
                # Up to IDLE_CONNECTIONS kept between uses; no limit on those open at once (as
                # with NullPool): a long-lived webserver keeps at most ENGINES_KEPT x
                # IDLE_CONNECTIONS databases open (each with its -wal and -shm files).
                engine = create_engine(
                    conn_string,
                    poolclass=QueuePool,
                    pool_size=IDLE_CONNECTIONS,
                    max_overflow=-1,
                    **self._args,
                )
            self._engines[conn_string] = engine
            while len(self._engines) > ENGINES_KEPT:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def _forget_after_fork(self) -> None:
        # In a child of fork(): the pools' connections are the parent's, in use there. Each
        # engine gets a new pool (the old one is let go, not closed: Engine.dispose(close=False))
        # and opens its own connections.
        self._lock = threading.Lock()
        for engine in self._engines.values():
            engine.dispose(close=False)


_ALL_ENGINES: weakref.WeakSet[_Engines] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engines in list(_ALL_ENGINES):
        engines._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
