"""Validate a folder of extract files named <extract>_<ORG>_<YYYY-MM>.csv.

Used by `owf synth --validate` and the demo. Files are shared out over worker processes
(each with its own DuckDB connection): organisations' extracts are independent, just as
their machines are.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.standard.model import load_standard

NAME = re.compile(r"(?P<extract>[a-z_]+)_(?P<org>[A-Z0-9]{3,6})_(?P<period>\d{4}-\d{2})\.csv")


@dataclass
class OrgSummary:
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)


def parse_name(path: Path, extracts: set[str]) -> tuple[str, str, str] | None:
    m = NAME.fullmatch(path.name)
    if not m or m["extract"] not in extracts:
        return None
    return m["extract"], m["org"], m["period"]


def _validate_chunk(paths: list[str]) -> list[tuple[str, str, str, int, bool, str]]:
    from pipelines.standard.validator import validate_file

    std = load_standard()
    con = duckdb.connect()
    con.execute("SET threads = 1")
    out = []
    for p in paths:
        path = Path(p)
        extract, org, period = parse_name(path, set(std.extracts))
        r = validate_file(
            path, extract, standard=std, con=con, expected_org=org, expected_period=period
        )
        out.append((org, extract, period, r.rows, r.ok, "" if r.ok else r.render(max_rows=3)))
    con.close()
    return out


def validate_folder(folder: Path, workers: int | None = None) -> dict[str, OrgSummary]:
    """Validate every standard-layout extract under `folder` (recursively)."""
    std = load_standard()
    paths = sorted(str(p) for p in Path(folder).rglob("*.csv") if parse_name(p, set(std.extracts)))
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths) or 1))
    chunks = [paths[i::workers] for i in range(workers)]
    results: list = []
    if workers == 1:
        results = _validate_chunk(paths)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_validate_chunk, chunks):
                results.extend(part)
    summary: dict[str, OrgSummary] = {}
    for org, extract, period, rows, ok, text in sorted(results):
        s = summary.setdefault(org, OrgSummary())
        s.files += 1
        s.rows[extract] = s.rows.get(extract, 0) + rows
        if not ok:
            s.failed.append(f"{extract}_{org}_{period}.csv")
            s.reports.append(text)
    return summary
