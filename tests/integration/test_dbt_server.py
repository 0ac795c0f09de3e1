"""dbt kept loaded (pipelines/transform/dbt_server.py): a command `owf-dbt` hands to the hub
process's dbt server is run by a forked copy of a process that has imported dbt, and must be
dbt in everything a caller sees - exit status, output, environment, folder, the warehouse as
dbt leaves it - and `owf-dbt` must run dbt itself whenever no server takes the command."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.paths import PROJECT_ROOT
from pipelines.transform import dbt_server
from pipelines.transform.project import DBT_DIR, dbt_env, dbt_executable

OWF_DBT = dbt_executable()
PLAIN_DBT = str(Path(OWF_DBT).with_name("dbt"))


@pytest.fixture()
def server():
    """This process's dbt server (the one run_hub_job starts, if a test already ran a job)."""
    address = dbt_server.start()
    assert address is not None
    yield address


def _where(tmp: Path) -> list[str]:
    return [
        "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(tmp / "target"), "--log-path", str(tmp / "target"),
    ]  # fmt: skip


def _run(exe: str, *args: str, warehouse: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [exe, *args],
        cwd=DBT_DIR,
        env=dbt_env(warehouse) | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _codes(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'gender'"
        ).fetchone()[0]
        rows = con.execute(f'SELECT code FROM "{schema}".gender ORDER BY code').fetchall()
    return [c for (c,) in rows]


def _served_since(before: int) -> list[list[str]]:
    return [c["argv"] for c in dbt_server.served()[before:]]


def test_a_command_the_server_runs_is_dbt(server, tmp_path):
    before = len(dbt_server.served())
    # A usage error: the same status and message as dbt's own command line.
    plain = _run(PLAIN_DBT, "no-such-command", warehouse=tmp_path / "w.duckdb")
    served = _run(OWF_DBT, "no-such-command", warehouse=tmp_path / "w.duckdb")
    assert served.returncode == plain.returncode == 2
    assert served.stderr == plain.stderr and "No such command" in served.stderr

    # Two commands, each with its own environment (the warehouse path, OWF_WAREHOUSE): each
    # child starts from the server's untouched state and takes its caller's environment.
    with (PROJECT_ROOT / "governance/standard/codelists/gender.csv").open() as fh:
        codes = sorted(row["code"] for row in csv.DictReader(fh))
    for name in ("one", "two"):
        warehouse = tmp_path / name / "warehouse.duckdb"
        warehouse.parent.mkdir()
        seeded = _run(
            OWF_DBT, "seed", "--select", "gender", *_where(tmp_path / name), warehouse=warehouse
        )
        assert seeded.returncode == 0, seeded.stdout[-3000:]
        last = seeded.stdout.rstrip().splitlines()[-1]  # dbt's summary reached the pipe
        assert "Done. PASS=" in last and " ERROR=0 " in last, last
        assert not warehouse.with_name("warehouse.duckdb.wal").exists(), "not closed"
        assert _codes(warehouse) == codes

    # A failing command: dbt's status and its message on the caller's stdout.
    failed = [
        _run(exe, "show", "--inline", "select * from no_such_table", *_where(tmp_path / "one"),
             warehouse=tmp_path / "one" / "warehouse.duckdb")
        for exe in (PLAIN_DBT, OWF_DBT)
    ]  # fmt: skip
    assert failed[1].returncode == failed[0].returncode != 0
    assert "no_such_table" in failed[1].stdout

    # Every owf-dbt command above was the server's (none fell back to importing dbt itself).
    assert [argv[1] for argv in _served_since(before)] == [
        "no-such-command",
        "seed",
        "seed",
        "show",
    ]


def test_owf_dbt_runs_dbt_itself_when_no_server_takes_the_command(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    # No server there; servers turned off; a server that closes before starting the command
    # (one that is stopping, or found it could not serve).
    closing = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closing.bind(str(tmp_path / "closing.sock"))
    closing.listen(4)

    def close_each() -> None:
        for _ in range(1):
            conn, _ = closing.accept()
            conn.recv(4)
            conn.close()

    closer = threading.Thread(target=close_each, daemon=True)
    closer.start()
    for address in (str(tmp_path / "nothing.sock"), dbt_server.OFF, str(tmp_path / "closing.sock")):
        result = _run(OWF_DBT, "no-such-command", warehouse=warehouse, OWF_DBT_SERVER=address)
        assert result.returncode == 2, (address, result.stderr)
        assert "No such command" in result.stderr
    closer.join(timeout=60)
    closing.close()


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    code = (
        "import os\n"
        "from pipelines.transform import dbt_server\n"
        "dbt_server.start()\n"
        "print(dbt_server._started['process'].pid, dbt_server._started['folder'], flush=True)\n"
        "os._exit(0)\n"  # no stop(): killed, say
    )
    started = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    pid, folder = started.stdout.split()
    pid = int(pid)
    deadline = time.monotonic() + 60
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid), f"the dbt server {pid} outlived the process that started it"
    shutil.rmtree(folder)  # what a killed process leaves: its socket's folder


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_owf_dbt_passes_a_signal_on_to_the_process_running_its_command(tmp_path):
    """dagster-dbt stops a cancelled build with SIGINT to the process it started (owf-dbt):
    that must reach the process running the command. The server is stood in for here (a true
    boundary): it starts a sleeping process as the command's and reports its exit status."""
    address = str(tmp_path / "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    outcome: dict = {}
    forked = threading.Event()

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            header, fds, _, _ = socket.recv_fds(conn, dbt_server._HEADER.size, 3)
            for fd in fds:
                os.close(fd)
            (length,) = dbt_server._HEADER.unpack(header)
            while length:
                length -= len(conn.recv(length))
            # SIGINT's default action set explicitly: a pytest-xdist worker ignores SIGINT,
            # and a plain `sleep` would inherit that (dbt's child sets its own handler).
            sleeper = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import signal, time\n"
                    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
                    "print('ready', flush=True)\n"
                    "time.sleep(60)",
                ],
                stdout=subprocess.PIPE,
            )
            sleeper.stdout.readline()
            conn.sendall(dbt_server._REPLY.pack(b"p", sleeper.pid))
            forked.set()
            outcome["status"] = sleeper.wait(timeout=60)
            conn.sendall(dbt_server._REPLY.pack(b"s", 130))

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    client = subprocess.Popen(
        [OWF_DBT, "build"],
        env=dbt_env(tmp_path / "w.duckdb") | {"OWF_DBT_SERVER": address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert forked.wait(timeout=60), "owf-dbt did not hand its command over"
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=60) == 130, client.stderr.read()
    thread.join(timeout=60)
    listener.close()
    assert outcome["status"] == -signal.SIGINT


def test_a_command_ends_when_owf_dbt_is_killed(server, tmp_path):
    """dagster-dbt kills dbt's process when it does not stop on SIGINT: the command the server
    runs for it must end too, as a dbt process of its own would, not hold the warehouse on."""
    before = len(dbt_server.served())
    endless = "select count(*) from range(1000000000000) a"
    client = subprocess.Popen(
        [OWF_DBT, "show", "--inline", endless, *_where(tmp_path)],
        cwd=DBT_DIR,
        env=dbt_env(tmp_path / "w.duckdb"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(dbt_server.served()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    [command] = dbt_server.served()[before:]
    assert command["argv"][1] == "show"
    assert _running(command["pid"])
    client.kill()
    client.wait(timeout=60)
    deadline = time.monotonic() + 60
    while _running(command["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(command["pid"]), "the command outlived the owf-dbt that asked for it"
