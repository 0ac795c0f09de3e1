"""One measured run of one workload, in a fresh process; prints one JSON line.

Peak memory is sampled, not taken from getrusage: on Linux a process started by fork and
exec inherits its parent's high-water mark in ru_maxrss (so a worker started by a large
parent, or dbt started by a 2 GB worker, would report the parent's size). A sampler thread
reads the resident set of this process and all its descendants (dbt runs as a child) from
/proc every 50 ms and keeps the largest sum; this process's own peak is its VmHWM, which
belongs to its own address space.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from pipelines.bench.workloads import RUNNERS

INTERVAL = 0.1


def _status_kb(pid: int | str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_rss_kb(root: int) -> int:
    """Resident set of `root` and every descendant, in kB (Linux /proc)."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(_status_kb(pid, "VmRSS") for pid in tree)


class PeakSampler:
    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(me))
            self._stop.wait(INTERVAL)

    def __enter__(self) -> PeakSampler:
        if Path("/proc/self/status").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def main() -> None:
    name, workdir = sys.argv[1], Path(sys.argv[2])
    with PeakSampler() as sampler:
        result = RUNNERS[name](workdir)
    own_kb = _status_kb("self", "VmHWM")
    result["peak_rss_mb_process"] = round(own_kb / 1024, 1)
    result["peak_rss_mb_tree_sampled"] = round(sampler.peak_kb / 1024, 1)
    # The larger of the sampled total (this process and its children together) and this
    # process's own high-water mark (which a 100 ms sampler can miss by a little).
    result["peak_rss_mb"] = max(result["peak_rss_mb_process"], result["peak_rss_mb_tree_sampled"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
