"""A Dagster run whose owf process was killed is marked failed by the next owf command.

Found in review: `kill -9` of `owf hub ingest` left its run STARTED for ever; counted against
the warehouse pool's single slot, it kept every run the daemon queued after it waiting.
These tests run real jobs in real child processes on a real (SQLite) Dagster instance and
really kill one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg

from pipelines.defs.instance import OWNER_PID_TAG, claim_instance, fail_abandoned_runs

CHILD = textwrap.dedent(
    """
    import sys, time
    import dagster as dg
    from pipelines.defs.instance import owner_tags

    @dg.op
    def wait():
        time.sleep(120)

    @dg.job
    def long_job():
        wait()

    instance = dg.DagsterInstance.local_temp(sys.argv[1])
    long_job.execute_in_process(instance=instance, tags=owner_tags())
    """
)


def _start_child(home) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(home)])


def _started_run_of(instance, pid: int, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in instance.get_runs(filters=dg.RunsFilter(tags={OWNER_PID_TAG: str(pid)})):
            if run.status == dg.DagsterRunStatus.STARTED:
                return run
        time.sleep(0.2)
    raise AssertionError(f"no STARTED run of process {pid}")


def _status(instance, run_id):
    return instance.get_run_by_id(run_id).status


def test_a_killed_command_s_run_is_marked_failed_and_a_live_one_is_left(tmp_path, capsys):
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    killed, alive = _start_child(tmp_path), _start_child(tmp_path)
    try:
        dead_run = _started_run_of(instance, killed.pid)
        live_run = _started_run_of(instance, alive.pid)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(30)
        # Dagster itself never ends it.
        assert _status(instance, dead_run.run_id) == dg.DagsterRunStatus.STARTED

        claim_instance(instance)
        assert _status(instance, dead_run.run_id) == dg.DagsterRunStatus.FAILURE
        assert _status(instance, live_run.run_id) == dg.DagsterRunStatus.STARTED
        err = capsys.readouterr().err
        assert "marked 1 run(s) failed" in err and dead_run.run_id[:8] in err
        logs = instance.all_logs(dead_run.run_id)
        assert any(f"pid {killed.pid}" in (e.message or "") for e in logs)
        # Once is enough: nothing more to do the next time.
        assert fail_abandoned_runs(instance) == []
    finally:
        for child in (killed, alive):
            if child.poll() is None:
                child.kill()
                child.wait(30)


def test_a_run_from_elsewhere_is_never_touched(tmp_path):
    """The daemon's and `make dev`'s runs carry no owf process tags; a run another machine
    started names that machine: neither is this command's to judge."""
    instance = dg.DagsterInstance.local_temp(str(tmp_path))

    @dg.op
    def nothing():
        pass

    @dg.job
    def small():
        nothing()

    for tags in ({}, {OWNER_PID_TAG: "1", "owf/host": "another-machine"}):
        run = instance.create_run_for_job(small, tags=tags)
        instance.handle_run_event(
            run.run_id,
            dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name="small"),
        )
        assert _status(instance, run.run_id) == dg.DagsterRunStatus.STARTED
    assert fail_abandoned_runs(instance) == []
