"""Disclosure control carried forward: a month controlled once is not controlled again.

Every publication controls every published table (pipelines.publish.disclosure), and most of
that work is secondary suppression, which grows with the months a hub holds: a hub's sixth
month took 2.6 s of a 4.3 s publication, a resubmission changing one month included. Yet a
resubmission, or the next month, changes one month's rows, and the months before are the same
rows under the same policies as last time.

Every relation the disclosure policy draws between cells lies within one period: additive
groups, followed tables, copies and rate denominators all name `period` among their keys
(`by_period` checks a table's spec). So a table controlled one period at a time gives the
rows that controlling it whole gives (tests/integration/test_publish.py compares them, and
the publications made both ways, file for file). Each (table, period) is keyed by a SHA-256
over everything its controlled cells depend on:

- its rows: SHA-256, worked out in DuckDB, over the period's rows of the published view, each
  as JSON (unambiguous: names, types and values), sorted;
- the view's column names and types;
- the table's disclosure spec (its dbt YAML), the policies of every organisation (the
  strictest of their agreements) and the default, and the organisations whose agreements in
  force today let the audience see the output (the others' rows are withheld and suppressed);
- the keys of the same period of the tables it follows;
- this code, and the numpy and pandas versions that do its arithmetic.

A period whose key was stored by an earlier publication takes its controlled cells (every
measure, and the `suppressed` column naming the hidden ones) from the hub's disclosure cache,
<hub>/disclosure-cache/ (HubPaths.disclosure_cache); the other columns are the rows just read,
which the key says are the same. Any other period is controlled afresh and stored. After a
publication is in place, entries it did not use are removed.

The cache holds what publications hold - controlled cells - plus the rows of organisations
whose agreements withhold the output, with every measure hidden (NULL). An entry that cannot be
read, or does not match its period's rows, is controlled afresh; a cache that cannot be written
costs time, not the publication. OWF_DISCLOSURE_CACHE=off controls every period every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.publish.disclosure import SUPPRESSED_COLUMN, Policy, TableSpec

PARTITION = "period"
FORMAT = "owf-disclosure-cache/1"
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}")
_KEY = re.compile(r"[0-9a-f]{64}")
_CODE_FILES = ("disclosure.py", "carry.py", "publication.py")
_CHECK = b"owf_cells_sha256"


def enabled() -> bool:
    return os.environ.get("OWF_DISCLOSURE_CACHE", "").strip().lower() not in {"off", "0", "no"}


def by_period(spec: TableSpec) -> bool:
    """Whether every relation of `spec` lies within one period (see the module docstring)."""
    keys: list[tuple[str, ...]] = [a.group_by for a in spec.additive]
    keys += [f.by for f in spec.follows]
    if spec.copies_of:
        keys.append(spec.copies_of)
    keys += [
        f.denominator_total_over
        for formulas in spec.rate_parts.values()
        for f in formulas
        if f.denominator_total_over
    ]
    renamed = any(f.columns.get(PARTITION, PARTITION) != PARTITION for f in spec.follows)
    return not renamed and all(PARTITION in k for k in keys)


def controlled_columns(spec: TableSpec) -> tuple[str, ...]:
    """The columns `protect` changes: every measure, the unrestricted ones, `suppressed`."""
    return (*spec.measures, *spec.unrestricted, SUPPRESSED_COLUMN)


def _cells_digest(cells: dict[str, np.ndarray]) -> str:
    """SHA-256 of controlled columns: names, float64 bytes (NaN as stored), labels."""
    h = hashlib.sha256()
    for name, values in cells.items():
        h.update(name.encode() + b"\0")
        if name == SUPPRESSED_COLUMN:
            h.update("\n".join(values).encode() + b"\0")
        else:
            h.update(np.ascontiguousarray(values, dtype="float64").tobytes() + b"\0")
    return h.hexdigest()


def _code_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE_FILES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    h.update(f"numpy {np.__version__} pandas {pd.__version__}".encode())
    return h.hexdigest()


@dataclass
class Carry:
    """One publication's use of the hub's disclosure cache (see the module docstring).

    `wh` is the warehouse connection the publication reads (the hub's lock held); `by_org`
    and `default` are the organisations' policies and the default one (policy_resolver)."""

    folder: Path
    wh: duckdb.DuckDBPyConnection
    by_org: dict[str, Policy]
    default: Policy
    controlled: int = 0
    carried: int = 0
    used: set[Path] = field(default_factory=set)
    # published view -> its periods' keys and rows (`keys`)
    tables: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    _code: str = ""
    _writable: bool = True

    def __post_init__(self) -> None:
        self._code = _code_digest()
        self._policies = json.dumps(
            {
                "default": [self.default.suppress_max, self.default.round_to],
                "by_org": {o: [p.suppress_max, p.round_to] for o, p in sorted(self.by_org.items())},
            }
        )

    def keys(
        self,
        view: str,
        spec: TableSpec,
        permitted: set[str],
        leaders: dict[str, dict[str, tuple[str, int]]],
        dtypes: list[str],
    ) -> dict[str, tuple[str, int]] | None:
        """period -> (key, rows) for each period of the published view `view` (a dbt model
        name), or None when the view's periods cannot be keyed (one is NULL or not YYYY-MM).
        `leaders`: the keys of the tables `spec` follows, by table and period."""
        columns = self.wh.execute(f"DESCRIBE published.{view}").fetchall()  # noqa: S608 - dbt model name
        digests = self.wh.execute(
            f"SELECT {PARTITION}, count(*), sha256(string_agg(to_json(owf_row)::VARCHAR, chr(10)"  # noqa: S608 - dbt model name
            f" ORDER BY to_json(owf_row)::VARCHAR)) FROM published.{view} AS owf_row GROUP BY ALL"
        ).fetchall()
        if any(not isinstance(p, str) or not _PERIOD.fullmatch(p) for p, _, _ in digests):
            return None
        base = {
            "format": FORMAT,
            "code": self._code,
            "view": view,
            "columns": [[c[0], c[1]] for c in columns],
            # The types the rows were read as (a column with a NULL is read as a nullable
            # type): they decide how the CSV writes a value.
            "dtypes": dtypes,
            "spec": repr(spec),
            "policies": self._policies,
            "permitted": sorted(permitted),
        }
        out = {}
        for period, rows, digest in digests:
            text = json.dumps(
                base
                | {
                    "period": period,
                    "rows": rows,
                    "digest": digest,
                    "follows": {
                        t: (keys.get(period) or (None, 0))[0] for t, keys in sorted(leaders.items())
                    },
                },
                sort_keys=True,
            )
            out[period] = (hashlib.sha256(text.encode()).hexdigest(), rows)
        self.tables[view] = out
        return out

    def _path(self, table: str, period: str, key: str) -> Path:
        if not (_PERIOD.fullmatch(period) and _KEY.fullmatch(key) and table.isidentifier()):
            raise ValueError(f"not a cache entry: {table!r} {period!r} {key!r}")
        return self.folder / table / f"{period}.{key}.parquet"

    def csv_body(self, table: str, period: str, key: str) -> str | None:
        """The CSV lines (no header) stored for (table, period) under `key`, or None. The
        file's first line is the SHA-256 of the rest: a damaged entry is not used."""
        path = self._path(table, period, key).with_suffix(".csv")
        try:
            check, _, body = path.read_bytes().partition(b"\n")
        except OSError:
            return None
        if check.decode("ascii", "replace") != hashlib.sha256(body).hexdigest():
            return None
        self.used.add(path)
        return body.decode("utf-8")

    def store_csv_body(self, table: str, period: str, key: str, body: str) -> None:
        path = self._path(table, period, key).with_suffix(".csv")
        self.used.add(path)
        data = body.encode("utf-8")
        entry = hashlib.sha256(data).hexdigest().encode("ascii") + b"\n" + data
        self._write(path, lambda tmp: tmp.write_bytes(entry))

    def _write(self, path: Path, write) -> None:
        """`write(tmp)`, then `tmp` renamed to `path`: an entry is whole or absent."""
        if not self._writable:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            path.parent.mkdir(exist_ok=True)
            write(tmp)
            os.replace(tmp, path)
        except (OSError, pa.ArrowException) as exc:
            self._writable = False
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            print(
                f"warning: the disclosure cache {self.folder} cannot be written ({exc});"
                " this publication is complete, but the next will control every month again",
                file=sys.stderr,
            )

    def load(
        self, table: str, period: str, key: str, spec: TableSpec, rows: int
    ) -> dict[str, np.ndarray] | None:
        """The controlled columns stored for (table, period) under `key`, or None."""
        path = self._path(table, period, key)
        try:
            stored = pq.read_table(path)
        except (OSError, pa.ArrowException):
            return None
        wanted = controlled_columns(spec)
        if stored.num_rows != rows or stored.column_names != list(wanted):
            return None
        out: dict[str, np.ndarray] = {}
        for name in wanted:
            col = stored.column(name)
            if name == SUPPRESSED_COLUMN:
                if not pa.types.is_string(col.type) or col.null_count:
                    return None
                out[name] = np.array(col.to_pylist(), dtype=object)
            else:
                if not pa.types.is_float64(col.type):
                    return None
                out[name] = col.to_numpy()
        # A damaged entry (a flipped bit in a page Parquet does not check) is not used.
        if (stored.schema.metadata or {}).get(_CHECK) != _cells_digest(out).encode("ascii"):
            return None
        self.used.add(path)
        self.carried += 1
        return out

    def store(self, table: str, period: str, key: str, cells: dict[str, np.ndarray]) -> None:
        """Keep (table, period)'s controlled columns under `key`; written whole or not at all."""
        self.controlled += 1
        path = self._path(table, period, key)
        self.used.add(path)
        table_ = pa.table(
            {
                name: pa.array(values, type=pa.string())
                if name == SUPPRESSED_COLUMN
                else pa.array(values, type=pa.float64(), from_pandas=False)
                for name, values in cells.items()
            },
            metadata={_CHECK: _cells_digest(cells)},
        )
        self._write(path, lambda tmp: pq.write_table(table_, tmp))

    def prune(self) -> int:
        """Remove the entries this publication did not use (after it is in place)."""
        removed = 0
        if not self.folder.is_dir():
            return removed
        for path in self.folder.glob("*/*"):
            if path not in self.used:
                try:
                    path.unlink()
                    removed += 1
                except OSError:
                    pass
        for folder in self.folder.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed

    def summary(self) -> dict:
        return {"months_controlled": self.controlled, "months_carried_forward": self.carried}
