"""One measured run of one workload, in a fresh process; prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from pipelines.bench.workloads import RUNNERS


def main() -> None:
    name, workdir = sys.argv[1], Path(sys.argv[2])
    result = RUNNERS[name](workdir)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # The larger of this process and its largest child (dbt runs as a subprocess).
    result["peak_rss_mb"] = max(own, children)
    result["peak_rss_mb_process"], result["peak_rss_mb_largest_child"] = own, children
    print(json.dumps(result))


if __name__ == "__main__":
    main()
