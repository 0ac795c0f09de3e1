"""Processes started at the same moment, for tests of what several processes do at once.
Imports nothing heavy: a small process forks quickly, so a test can run many rounds."""

from __future__ import annotations

import os


def at_once(processes, work):
    """Forks `processes` children that each call work(i), i being the child's number from 0,
    as soon as they are let go, all at the same moment (one write to a pipe they all wait
    on). Returns their exit codes: work()'s return value, or 1 if it raised."""
    read_end, write_end = os.pipe()
    children = []
    for i in range(processes):
        pid = os.fork()
        if pid == 0:  # the child: report by exit status only
            status = 1
            try:
                os.close(write_end)
                os.read(read_end, 1)
                status = work(i)
            finally:
                os._exit(status)
        children.append(pid)
    os.close(read_end)
    os.write(write_end, b"x" * processes)
    os.close(write_end)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
