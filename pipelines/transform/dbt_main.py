"""`owf-dbt`: dbt's own command line, without the wait at the end of every command.

A dbt command's process holds dbt's whole import graph and the parsed project in memory.
When the command is done, Python's interpreter shutdown frees all of it object by object:
0.5 s after dbt's last line on these 2 cores (1 s at the end of a resubmission's build,
while Dagster's process works beside it), for nothing a later reader can see. Every build
of the hub, the demo's and the tests' pays it, and dagster-dbt waits for the process to
exit before the build's step can finish.

So this runs exactly what `dbt` runs (`dbt.cli.main.cli`, with the same arguments), then
does what an orderly exit does that matters outside the process - the exit handlers
(logging's flush of dbt.log, dbt-duckdb's close of the warehouse, which checkpoints it),
and a flush of stdout and stderr - and leaves with dbt's exit status at once
(`os._exit`), skipping only the freeing of memory the operating system takes back anyway.
An exception dbt does not handle itself ends the process the ordinary way, traceback and
all. Kept free of the rest of `pipelines` so that it adds nothing to dbt's own start.

When the process that runs the hub's jobs keeps dbt loaded (OWF_DBT_SERVER), the command is
handed to that server, which runs `run()` below in a child forked from a process that has
already imported dbt (pipelines/transform/dbt_server.py).
"""

from __future__ import annotations

import atexit
import os
import sys


def _status(code: object) -> int:
    """The exit status `sys.exit(code)` gives: 0 for None, the int, else 1 (after the
    message, which Python prints to stderr)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run() -> int:
    """dbt's command (`sys.argv`), then the exit handlers and a flush of stdout and stderr:
    its exit status."""
    from dbt.cli.main import cli

    try:
        cli(prog_name="dbt")  # click's standalone mode: always ends in SystemExit
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    status = _status(code)
    atexit._run_exitfuncs()
    _flush()
    return status


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to deliver to
            pass


def main() -> None:
    # Handed to the hub process's dbt server when there is one (dbt already imported there:
    # pipelines/transform/dbt_server.py); run here when there is none, or it did not take it.
    from pipelines.transform.dbt_server import ENV, OFF, run_remote

    address = os.environ.get(ENV)
    served = run_remote(address) if address and address != OFF else None
    status = run() if served is None else served[1]
    _flush()
    os._exit(status)


if __name__ == "__main__":
    main()
