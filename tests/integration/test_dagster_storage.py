"""The hub's Dagster storage (pipelines/defs/storage.py, named by the instance's settings, dagster_instance.yaml): Dagster's own
SQLite files and tables, with one SQLAlchemy engine, and a pool of its connections, kept per
database. Real jobs on a real $DAGSTER_HOME; Dagster's default storage reads what it wrote and
writes what it reads, while the hub's storage holds its pooled connections."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.sqlite import LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION

from pipelines.defs import storage as hub_storage
from pipelines.defs.instance import install_settings, local_instance
from pipelines.paths import PROJECT_ROOT
from tests.at_once import at_once


@dg.asset
def headcount():
    return 3


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="fte")])
def fte(headcount):
    yield dg.Output(headcount * 0.8)
    yield dg.AssetCheckResult(passed=True, check_name="positive")


ASSETS = [headcount, fte]


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "dagster_home"
    install_settings(folder)
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def _default_storage_instance(home):
    """Dagster's default storage on the same folder (no dagster.yaml read)."""
    return dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(home), config_filename="no-such-settings.yaml")
    )


def _event_types(instance, run_id):
    return [
        e.dagster_event.event_type_value for e in instance.all_logs(run_id) if e.is_dagster_event
    ]


def test_runs_stored_by_the_hub_s_storage_and_dagster_s_own_are_the_same(home):
    with local_instance() as ours:
        assert isinstance(ours.run_storage, hub_storage.HubSqliteRunStorage)
        assert isinstance(ours.event_log_storage, hub_storage.HubSqliteEventLogStorage)
        first = dg.materialize(ASSETS, instance=ours)
        assert first.success
        ours_events = _event_types(ours, first.run_id)
        kinds = dg.DagsterEventType
        wanted = {kinds.ASSET_MATERIALIZATION, kinds.ASSET_CHECK_EVALUATION, kinds.RUN_SUCCESS}
        assert {k.value for k in wanted} <= set(ours_events)
        # Dagster's default files and folders.
        assert (home / "history" / "runs.db").exists()
        assert (home / "history" / "runs" / f"{first.run_id}.db").exists()
        assert (home / "history" / "runs" / "index.db").exists()

        # Dagster's own storage, while ours keeps its connections open in their pools.
        with _default_storage_instance(home) as theirs:
            assert type(theirs.event_log_storage).__name__ == "SqliteEventLogStorage"
            assert theirs.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.SUCCESS
            assert _event_types(theirs, first.run_id) == ours_events
            second = dg.materialize(ASSETS, instance=theirs)
            assert second.success

        # Ours sees the run Dagster's storage wrote, through the connections it kept.
        runs = {r.run_id: r.status for r in ours.get_runs()}
        assert runs == {
            first.run_id: dg.DagsterRunStatus.SUCCESS,
            second.run_id: dg.DagsterRunStatus.SUCCESS,
        }
        latest = ours.get_latest_materialization_event(dg.AssetKey("fte"))
        assert latest.run_id == second.run_id
        check = ours.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("fte"), "positive")]
        )
        assert list(check.values())[0].run_id == second.run_id

    with local_instance() as again:
        assert {r.run_id for r in again.get_runs()} == {first.run_id, second.run_id}


def test_each_database_keeps_one_engine_and_only_the_last_ones_used(home, monkeypatch):
    monkeypatch.setattr(hub_storage, "ENGINES_KEPT", 3)
    with local_instance() as ours:
        events = ours.event_log_storage
        # One engine for the index database, however often it is used (Dagster's own storage
        # makes one per statement).
        with events.index_connection() as a:
            index_engine = a.engine
        with events.index_connection() as b:
            assert b.engine is index_engine
        with ours.run_storage.connect() as a, ours.run_storage.connect() as b:
            assert a.engine is b.engine
            # Two uses at once: two connections.
            assert a.connection.dbapi_connection is not b.connection.dbapi_connection
            opened = {id(a.connection.dbapi_connection), id(b.connection.dbapi_connection)}
        # Later uses reuse those connections; none is opened again.
        for _ in range(3):
            with ours.run_storage.connect() as c:
                assert id(c.connection.dbapi_connection) in opened
        run_ids = [dg.materialize(ASSETS, instance=ours).run_id for _ in range(4)]
        kept = events._engines._engines
        assert len(kept) == 3  # the index and the last two runs' databases
        assert events.conn_string_for_shard(run_ids[-1]) in kept
        assert events.conn_string_for_shard(run_ids[0]) not in kept
        # A run whose engine was let go reads back all the same.
        assert dg.DagsterEventType.RUN_SUCCESS.value in _event_types(ours, run_ids[0])


def test_a_forked_child_opens_its_own_connections_and_the_parent_keeps_its(home):
    with local_instance() as ours:
        events = ours.event_log_storage
        first = dg.materialize(ASSETS, instance=ours)
        with events.index_connection() as conn:
            parents = conn.connection.dbapi_connection
        with ours.run_storage.connect() as conn:
            parents_runs = conn.connection.dbapi_connection
        pid = os.fork()
        if pid == 0:  # the child: report by exit status only
            status = 1
            try:
                with events.index_connection() as conn:
                    fresh = conn.connection.dbapi_connection is not parents
                with ours.run_storage.connect() as conn:
                    fresh = fresh and conn.connection.dbapi_connection is not parents_runs
                status = 0 if fresh and dg.materialize(ASSETS, instance=ours).success else 2
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child used its parent's connections"
        # The parent's pooled connections still work, and see the child's run.
        with events.index_connection() as conn:
            assert conn.connection.dbapi_connection is parents
        assert len(ours.get_runs()) == 2
        assert ours.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.SUCCESS
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in ours.get_runs())


_WRITER = """
import sys
import dagster as dg
from pipelines.defs.instance import local_instance
from tests.integration.test_dagster_storage import ASSETS, IN_MEMORY

with local_instance() as instance:
    for _ in range(int(sys.argv[1])):
        assert dg.materialize(ASSETS, instance=instance, resources=IN_MEMORY).success
"""
# The processes write the same assets at once: their values go through memory, not the
# default IO manager's one file per asset under $DAGSTER_HOME, which one process could read
# while another rewrites it (a race of that test set-up, not of the storage under test).
IN_MEMORY = {"io_manager": dg.mem_io_manager}


def test_processes_writing_at_once_each_with_its_pool_lose_nothing(home):
    # Two other processes and this one store runs on the same $DAGSTER_HOME at the same
    # time, each keeping its connections between uses: SQLite's locking (and its busy
    # timeout) still orders the writes, and every run and event is there afterwards.
    import subprocess
    import sys

    runs_each = 4
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(runs_each)],
            env={**os.environ, "DAGSTER_HOME": str(home)},
            cwd=Path(__file__).resolve().parents[2],  # the project: `tests` importable
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    with local_instance() as ours:
        # This process writes for as long as the others do.
        mine = 0
        while mine < 2 or any(w.poll() is None for w in writers):
            assert dg.materialize(ASSETS, instance=ours, resources=IN_MEMORY).success
            mine += 1
        for writer in writers:
            _, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err[-2000:]
        expected = 2 * runs_each + mine
        runs = ours.get_runs()
        assert len(runs) == expected
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        checks = dg.DagsterEventType.ASSET_CHECK_EVALUATION.value
        for run in runs:
            assert _event_types(ours, run.run_id).count(checks) == 1
        materializations = ours.fetch_materializations(dg.AssetKey("fte"), limit=1000).records
        assert len(materializations) == expected


DATABASES = ("history/runs.db", "history/runs/index.db", "schedules/schedules.db")


def _head_revision():
    """The revision Dagster's migrations end at: what a new database is stamped with."""
    from alembic.script import ScriptDirectory
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.sql import get_alembic_config

    config = get_alembic_config(sqlite_run_storage.__file__)
    return ScriptDirectory.from_config(config).as_revision_number("head")


def _revision_rows(home, database):
    import sqlite3

    with sqlite3.connect(home / database) as conn:
        rows = [row[0] for row in conn.execute("select version_num from alembic_version")]
    conn.close()
    return rows


def _open_at_once(home, processes):
    """Children opening the hub's storage on `home` at once; 0 for each that opened it and
    had its answers."""

    def open_storage(_):
        storage = hub_storage.HubSqliteStorage(str(home))
        storage.run_storage.get_runs()
        storage.schedule_storage.all_instigator_state()
        storage.event_log_storage.get_all_run_ids()
        return 0

    return at_once(processes, open_storage)


def test_processes_opening_a_new_home_at_once_each_open_it_and_stamp_it_once(tmp_path, monkeypatch):
    # Dagster's own storage, opened by four processes at once on a new folder, failed in 10
    # rounds of 10: tables created twice, and the revision stamped twice in runs.db, which
    # stops every later start (dagster-io/dagster#27390; CI at 4efd947).
    for round_ in range(3):
        home = tmp_path / f"home{round_}"
        assert _open_at_once(home, 4) == [0, 0, 0, 0]
        for database in DATABASES:
            assert _revision_rows(home, database) == [_head_revision()], database
        # The home works for a run afterwards, and its run's database is stamped once.
        install_settings(home)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with local_instance() as instance:
            run = dg.materialize(ASSETS, instance=instance)
            assert run.success
        assert _revision_rows(home, f"history/runs/{run.run_id}.db") == [_head_revision()]


def test_a_home_whose_revision_was_stamped_twice_opens_and_is_mended(home):
    import sqlite3

    with local_instance() as ours:
        first = dg.materialize(ASSETS, instance=ours)
    # What the race left behind (seen in runs.db and schedules.db): the head revision, stamped
    # by the process that created the tables, and the one Dagster stamps on tables it finds
    # without a revision, stamped by the other.
    for database in DATABASES:
        with sqlite3.connect(home / database) as conn:
            conn.execute(
                "insert into alembic_version values (?)",
                (LAST_KNOWN_STAMPED_SQLITE_ALEMBIC_REVISION,),
            )
        conn.close()
        assert len(_revision_rows(home, database)) == 2
    from alembic.util.exc import CommandError

    with pytest.raises(CommandError, match="more than one head"):
        _default_storage_instance(home)  # Dagster's own storage stops here, every time
    with local_instance() as again:
        assert [r.run_id for r in again.get_runs()] == [first.run_id]
        assert dg.materialize(ASSETS, instance=again).success
    for database in DATABASES:
        assert _revision_rows(home, database) == [_head_revision()], database


def test_two_other_revisions_are_left_as_they_are(home):
    import sqlite3

    from alembic.util.exc import CommandError

    with local_instance():
        pass
    with sqlite3.connect(home / "history" / "runs.db") as conn:
        conn.execute("insert into alembic_version values ('not-a-revision')")
    conn.close()
    with pytest.raises(CommandError, match="more than one head"):
        local_instance()
    assert len(_revision_rows(home, "history/runs.db")) == 2


_SETTINGS_AT_ONCE = """
import sys
from pathlib import Path
from pipelines.defs.instance import install_settings
from tests.at_once import at_once

base, rounds = Path(sys.argv[1]), int(sys.argv[2])
for round_ in range(rounds):
    home = base / f"home{round_}"
    codes = at_once(8, lambda _: 0 if install_settings(home) is None else 3)
    files = sorted(p.name for p in home.iterdir())
    if codes != [0] * 8 or files != ["dagster.yaml"]:
        sys.exit(f"round {round_}: exit codes {codes} (3: found the settings differed), {files}")
"""


def test_processes_starting_on_a_new_home_at_once_find_its_settings_whole(tmp_path):
    # Copied in place, the settings were read half-written by another process starting with
    # them: of 100 rounds of eight processes, 6-17 had one say they differed and keep a
    # truncated dagster.yaml.previous. 200 rounds here, from a small process that forks
    # quickly (about 2 s), so that a copy in place fails this test all but always.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SETTINGS_AT_ONCE, str(tmp_path), "200"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wanted = (PROJECT_ROOT / "dagster_instance.yaml").read_bytes()
    assert all((home / "dagster.yaml").read_bytes() == wanted for home in tmp_path.iterdir())
