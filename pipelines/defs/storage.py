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
own. dagster_instance.yaml (the instance's dagster.yaml) names this storage (storage: custom).

Creating or upgrading a database (its tables, and the row in `alembic_version` that records its
schema's revision) is done by one process at a time: each folder of databases has a lock file
(INIT_LOCK, an flock, let go when the process ends however it ends) that a process holds while
it checks and creates the databases there. Dagster's own storage guards this with a lock
between threads only. Processes opening a new $DAGSTER_HOME at once (`make dev`'s webserver
and daemon, a command, a run's process) each found no revision and created the tables, all but
one failing on "table ... already exists"; one stamped Dagster's head revision, and another,
finding tables without a revision, took them for a database from before Dagster stamped SQLite
ones and stamped an older revision, beside the head or alone. Two rows stop every later start
with alembic's "Version table 'alembic_version' has more than one head present"
(dagster-io/dagster#27390, open). That failed CI at 4efd947. Four processes opening a new home
at once: without the lock, in each of 10 rounds at least one failed, and runs.db was left
stamped twice in 3 and with the old revision alone in 2; with it, none failed in 10 rounds.
A database already left with those two revisions keeps the head, which its tables are at
(`_keep_the_head_revision`).

It replaces methods of Dagster's classes that are not public API (`_connect`, `connect`,
`_initdb`) and builds the default storage's parts itself; tests/integration/
test_dagster_storage.py runs real jobs on it beside Dagster's own storage on the same files,
so a Dagster upgrade that changes those internals fails there, not in a hub's run.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.util.exc import CommandError
from dagster import _check as check
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from pipelines.filelock import exclusive

ENGINES_KEPT = 32
IDLE_CONNECTIONS = 2
INIT_LOCK = ".owf-storage-init.lock"  # not *.db: Dagster lists a folder's runs by *.db


def _created_once(folder: str, database: str, create):
    """create() (Dagster's check-and-create of `database`, a file in `folder`) with the folder's
    lock held. A database that two processes created at once before this lock existed can hold
    two revisions (`_keep_the_head_revision`), which alembic refuses ("more than one head
    present"): it is mended and create() called again. Any other pair of revisions is left as
    it is, and alembic's error stands."""
    with exclusive(folder, INIT_LOCK):
        try:
            return create()
        except CommandError as error:
            if "more than one head" not in str(error) or not _keep_the_head_revision(database):
                raise
            return create()


def _keep_the_head_revision(database: str) -> bool:
    """Of the two revisions two processes stamped in `database` at once, keeps the one its tables
    are at. The first process, finding a new file, created the tables (at Dagster's head
    revision) and stamped the head; the second, finding those tables and no revision yet, took
    the database for one made before Dagster stamped SQLite databases and stamped
    LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION. Exactly that pair is mended (the older row is
    deleted); True when it was."""
    from alembic.script import ScriptDirectory
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.sql import get_alembic_config

    config = get_alembic_config(sqlite_run_storage.__file__)  # one script folder for all three
    head = ScriptDirectory.from_config(config).as_revision_number("head")
    with sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT_SECONDS) as conn:
        revisions = {row[0] for row in conn.execute("select version_num from alembic_version")}
        mended = revisions == {head, LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION}
        if mended:
            conn.execute(
                "delete from alembic_version where version_num = ?",
                (LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION,),
            )
    conn.close()
    return mended


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

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        # The index's database (made by Dagster's __init__) and each run's (on its first use
        # in this process) are checked and created with this folder's lock held.
        _created_once(
            self._base_dir,
            check.not_none(engine.url.database),
            lambda: super(HubSqliteEventLogStorage, self)._initdb(engine, for_index_shard),
        )

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

    @classmethod
    def from_local(cls, base_dir: str, inst_data=None):
        # Dagster's check-and-create of runs.db, with the folder's lock held.
        return _created_once(
            base_dir,
            os.path.join(base_dir, "runs.db"),
            lambda: super(HubSqliteRunStorage, cls).from_local(base_dir, inst_data),
        )

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
        schedules = _schedule_directory(base_dir)
        self._schedule_storage = _created_once(
            schedules,
            os.path.join(schedules, "schedules.db"),
            lambda: SqliteScheduleStorage.from_local(schedules),
        )
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
