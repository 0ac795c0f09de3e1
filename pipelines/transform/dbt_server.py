"""dbt kept loaded: a process that has imported dbt once and forks a child for each dbt command.

Every dbt command starts a Python process that imports dbt and its adapter (about 1.4-2 s of
CPU on these 2 cores) before it reads a byte of the project. A process that runs the hub's
jobs (`owf publish`, `owf models build`, the demo, the bench, the tests: `run_hub_job`) paid
that on every build. Here a server process, started by that process (`start()`), imports dbt
once, beside the jobs, and waits on a Unix socket. `owf-dbt`
(`pipelines.transform.dbt_main`, which dagster-dbt starts as before) finds the socket in
OWF_DBT_SERVER and hands its command over: its arguments, environment, working directory and
standard streams (the file descriptors themselves, passed over the socket). The server forks;
the child, a copy of a process that has imported dbt and done nothing else, takes those
streams, environment and folder, runs exactly what `owf-dbt` would have run, and reports its
exit status, which `owf-dbt` exits with. dagster-dbt reads dbt's events from the same pipe as
before. Signals `owf-dbt` gets (dagster-dbt's SIGINT on a cancelled run) are passed on to the
child.

What makes the fork safe: the server imports dbt and nothing runs in it but this loop - one
thread (checked after the imports; with more it does not serve), no database connection, no
open project, nothing written. Each child starts from that same untouched state, so no
command sees what an earlier one did. Python reseeds `random` in a forked child; dbt's ids
come from `uuid4` (the operating system's randomness).

Nothing is lost without it: if OWF_DBT_SERVER is unset or `off`, or the server is gone, not
yet listening, or closes before it has started the command, `owf-dbt` runs dbt itself, as
before (a command sent while the server is still importing dbt waits for it). The server ends
when the process that started it ends (it watches a pipe only that process holds open).
OWF_DBT_SERVER=off turns `start()` off. docs/models.md, "dbt kept loaded".

Kept free of the rest of `pipelines` (standard library only at import): `owf-dbt` imports it
before deciding whether to import dbt at all.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ENV = "OWF_DBT_SERVER"
OFF = "off"
SOCKET_NAME = "dbt.sock"
LOG_NAME = "server.log"  # beside the socket: the server's own output, a line per command
_HEADER = struct.Struct("!I")  # a request's length, sent with its three file descriptors
_REPLY = struct.Struct("!ci")  # b"p" + the child's pid, then b"s" + its exit status
# The modules the server imports before it serves: dbt's command line and this project's
# adapter. Anything else dbt imports on its way runs in each child, as it would in a fresh
# process.
PRELOAD = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.adapters.duckdb.impl",
    "pipelines.transform.dbt_main",
)


# --- the client side (owf-dbt) -------------------------------------------------------------


def run_remote(address: str) -> tuple[int, int] | None:
    """This process's dbt command (`sys.argv`, environment, folder, standard streams) run by
    the server at `address`: (the pid of the process that ran it, its exit status), or None if
    no server took the command (the caller then runs dbt itself; nothing was started)."""
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(address)
    except OSError:
        return None
    # SIGINT and SIGTERM go to the process running the command once there is one; one that
    # comes before is kept, and passed on then, or raised here if dbt is run here after all.
    signals = _Signals()
    previous = {sig: signal.signal(sig, signals.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with conn:
            request = json.dumps(
                {"argv": ["dbt", *sys.argv[1:]], "env": dict(os.environ), "cwd": os.getcwd()}
            ).encode()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            try:
                socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
                conn.sendall(request)
                pid = _reply(conn, b"p")
            except OSError:
                pid = None
            if pid is None:  # the server closed before forking (stopping, or cannot serve)
                return None
            signals.forward_to(pid)  # from here dbt runs there: this process only waits
            try:
                status = _reply(conn, b"s")
            except OSError:  # the connection reset: the server and the child are gone
                status = None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if signals.pid is None:
            for sig in signals.pending:  # as if they came now, to the dbt about to run here
                signal.raise_signal(sig)
    if status is None:
        print(
            f"owf-dbt: the dbt process ({pid}) ended without reporting its exit status"
            " (killed?); see dbt.log in the project's log folder.",
            file=sys.stderr,
        )
        return pid, 1
    return pid, status


class _Signals:
    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []

    def handle(self, signum, _frame) -> None:
        if self.pid is None:
            self.pending.append(signum)
        else:
            self._send(signum)

    def forward_to(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self._send(signum)
        self.pending.clear()

    def _send(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:  # it has just ended
            pass


def _reply(conn: socket.socket, kind: bytes) -> int | None:
    """The next reply's value if it is of `kind`; None if the connection closed first."""
    data = b""
    while len(data) < _REPLY.size:
        chunk = conn.recv(_REPLY.size - len(data))  # retried by Python after a signal
        if not chunk:
            return None
        data += chunk
    got, value = _REPLY.unpack(data)
    return value if got == kind else None


# --- the hub process's side ----------------------------------------------------------------

_started: dict[str, object] = {}
_lock = threading.Lock()
_exit_registered: list[bool] = []


def start() -> str | None:
    """Start this process's dbt server, once, and point OWF_DBT_SERVER at it (dagster-dbt
    passes the environment on to `owf-dbt`). Returns the socket's path, or None when
    OWF_DBT_SERVER=off. Returns at once: the server imports dbt beside this process's work,
    and a command sent before it is ready waits for it."""
    with _lock:
        if os.environ.get(ENV) == OFF:
            return None
        if _started.get("pid") == os.getpid() and _alive():
            return str(_started["path"])
        folder = Path(tempfile.mkdtemp(prefix="owf-dbt-"))  # 0700: this user's only
        path = folder / SOCKET_NAME
        read_end, write_end = os.pipe()  # the server reads EOF when this process has ended
        # This checkout's `pipelines` first on the server's path, as it is on this process's
        # (a worktree run with PYTHONPATH, say): the children run its dbt_main.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), *filter(None, [env.get("PYTHONPATH")])]
        )
        try:
            with open(folder / LOG_NAME, "ab") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pipelines.transform.dbt_server",
                        str(path),
                        str(read_end),
                    ],
                    pass_fds=[read_end],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # Its own session: the terminal's Ctrl-C goes to owf-dbt, which passes it
                    # on to the one command it concerns, not to the server.
                    start_new_session=True,
                    cwd=str(folder),
                )
        finally:
            os.close(read_end)
        _started.update(pid=os.getpid(), path=path, folder=folder, process=process, pipe=write_end)
        os.environ[ENV] = str(path)
        if not _exit_registered:
            atexit.register(stop)
            _exit_registered.append(True)
        return str(path)


def _alive() -> bool:
    process = _started.get("process")
    return process is not None and process.poll() is None


def stop() -> None:
    """Stop this process's server and remove its socket. Commands it is running are processes
    of their own and finish; one it has accepted but not forked for runs dbt itself."""
    with _lock:
        if _started.get("pid") != os.getpid():
            _started.clear()
            return
        process = _started.pop("process", None)
        pipe = _started.pop("pipe", None)
        folder = _started.pop("folder", None)
        path = _started.pop("path", None)
        _started.clear()
        if os.environ.get(ENV) == str(path):
            del os.environ[ENV]
        if pipe is not None:
            os.close(pipe)
        if process is not None:
            # Not waited for: it may still be importing dbt (a command that failed early).
            process.terminate()
            process.wait()
        if folder is not None:
            Path(path).unlink(missing_ok=True)
            (folder / LOG_NAME).unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass


def served() -> list[dict]:
    """The commands this process's server has run so far, from its log: {"pid", "argv"}."""
    folder = _started.get("folder")
    if folder is None or _started.get("pid") != os.getpid():
        return []
    try:
        lines = (folder / LOG_NAME).read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line[len(_SERVED) :]) for line in lines if line.startswith(_SERVED)]


_SERVED = "served "


# --- the server ----------------------------------------------------------------------------


def serve(path: str, parent_fd: int) -> None:
    """Listen at `path` (at once, so early commands wait rather than find nothing), import
    dbt, then fork a child for each command until `parent_fd` reads EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc to tell: not Linux, where this is not needed
        return
    if threading.active_count() != 1 or threads != 1:
        return  # forking a threaded process is not safe: commands run dbt themselves
    # Children are reaped by the kernel: the server never waits for one.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ, "command")
        selector.register(parent_fd, selectors.EVENT_READ, "parent")
        while True:
            for key, _ in selector.select():
                if key.data == "parent":  # the hub process has ended (or stopped us)
                    return
                conn, _ = listener.accept()
                if os.fork() == 0:
                    selector.close()
                    listener.close()
                    os.close(parent_fd)
                    _child(conn, os.dup(2))  # never returns
                conn.close()


def _child(conn: socket.socket, log: int) -> None:
    status = 70  # EX_SOFTWARE: the request could not be taken up
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        header, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 3)
        if len(header) != _HEADER.size or len(fds) != 3:
            os._exit(status)
        (length,) = _HEADER.unpack(header)
        data = b""
        while len(data) < length:
            chunk = conn.recv(length - len(data))
            if not chunk:
                os._exit(status)
            data += chunk
        request = json.loads(data)
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        _streams(os.environ)
        os.write(log, f"{_SERVED}{json.dumps({'pid': os.getpid(), 'argv': sys.argv})}\n".encode())
        os.close(log)
        conn.sendall(_REPLY.pack(b"p", os.getpid()))
        threading.Thread(target=_end_with_caller, args=(conn,), daemon=True).start()
    except BaseException:
        os._exit(status)
    try:
        from pipelines.transform.dbt_main import run

        status = run()  # dbt's command, its exit handlers, the streams flushed
    except BaseException:  # as a fresh process would: the traceback, exit status 1
        import traceback

        traceback.print_exc()
        status = 1
        atexit._run_exitfuncs()
        sys.stderr.flush()
    try:
        conn.sendall(_REPLY.pack(b"s", status))
    finally:
        os._exit(status)


def _end_with_caller(conn: socket.socket) -> None:
    """The command ends when `owf-dbt` ends before it (killed: dagster-dbt kills dbt's process
    if it does not stop on SIGINT), as a dbt process of its own would have: otherwise it would
    hold the warehouse until it finished, for nobody. `owf-dbt` sends nothing after its
    request, so the connection reads only its end."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _streams(env) -> None:
    """New sys.stdin/stdout/stderr over the descriptors just taken, set up as a fresh process
    with this environment would set them up (dagster-dbt asks for unbuffered output, to
    stream dbt's events as they come)."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    encoding = env.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"

    def text(fd: int, mode: str, *, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        interactive = raw.isatty()
        if mode == "r":
            buffered = io.BufferedReader(raw)
        elif unbuffered:  # as Python's -u: the text layer writes straight to the descriptor
            buffered = raw
        else:
            buffered = io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors=errors,
            line_buffering=interactive or (unbuffered and mode == "w"),
            write_through=unbuffered and mode == "w",
        )

    sys.stdin = sys.__stdin__ = text(0, "r", errors="strict")
    sys.stdout = sys.__stdout__ = text(1, "w", errors="strict")
    sys.stderr = sys.__stderr__ = text(2, "w", errors="backslashreplace")


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
