"""The warehouse DuckDB file: one writer at a time, and the raw schema derived from the standard.

DuckDB allows one writing process per file. Every writer (ingestion, dbt, publication,
quarantine release, retention) takes an exclusive lock on <hub>/warehouse.lock first and
holds it until its connection is closed, so packages arriving together queue instead of
failing on DuckDB's own lock. Dagster's "warehouse" concurrency pool does the same between
runs on a Dagster instance; the file lock also covers the command line and any process
outside Dagster.

DuckDB's DELETE and UPDATE free the blocks of the old values without overwriting them, and
neither CHECKPOINT nor VACUUM rewrites a file, so purged rows and pre-rotation pseudonyms stay
readable in warehouse.duckdb. `compact_if_owed` rewrites the file after a purge or a key
rotation (see there).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.errors import OwfError
from pipelines.files import fsync_dir as _fsync_dir
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.standard import SUBMITTED, Standard
from pipelines.standard.validator import qi

PAYLOAD_SQL_TYPES = {"integer": "BIGINT", "decimal": "DOUBLE", "date": "DATE"}
SUBMISSION_STATUSES = (
    "accepted",
    "superseded",
    "quarantined",
    "refused",
    "released",
    "discarded",
    "purged",
)


# Who else is told when the lock must be waited for, besides a caller's `on_wait`: a lock
# taken inside a Dagster step has no caller to pass one, so the command line that runs the
# job and the step itself (its run log) listen here while the job runs. Process-wide, since
# the job's steps run in this process but not necessarily on the caller's thread (found in
# review: a wait inside the job, for a writer that came after the command's own check, was
# silent on the terminal and in the run's log).
_WAIT_LISTENERS: list[Callable[[str], None]] = []


@contextlib.contextmanager
def telling_waits(listener: Callable[[str], None] | None) -> Iterator[None]:
    """While inside, every wait for the warehouse lock in this process tells `listener` whom
    it waits for (once per wait). None listens to nothing."""
    if listener is None:
        yield
        return
    _WAIT_LISTENERS.append(listener)
    try:
        yield
    finally:
        _WAIT_LISTENERS.remove(listener)


def _tell_wait(on_wait: Callable[[str], None] | None, holder: str) -> None:
    # One listener registered twice (a caller's on_wait while it also listens) hears it once.
    for listener in dict.fromkeys([on_wait, *_WAIT_LISTENERS]):
        if listener is not None:
            listener(holder)


@contextlib.contextmanager
def warehouse_lock(
    paths: HubPaths,
    timeout: float = 3600.0,
    *,
    shared: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Lock on the warehouse, waiting (up to `timeout` seconds) for the hub's other users:
    exclusive for a writer, `shared` for a reader (readers may read together, never while
    one writes: DuckDB refuses a read-only open while another process has the file open to
    write, and a writer's open while a reader has it). A writer notes who it is in the lock
    file; `on_wait`, and whoever listens (telling_waits), is told that (once) if the lock is
    not free at once. Not re-entrant: a process holding it must not take it again."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    _tell_wait(on_wait, _lock_holder(paths))
                    told = True
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another process has held {paths.lock} for {timeout:.0f}s"
                        f" ({_lock_holder(paths)})"
                    ) from None
                time.sleep(0.2)
        if not shared:
            note = (
                f"{os.getpid()} {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
                f" {' '.join(Path(sys.argv[0]).name.split()[:1] + sys.argv[1:4])}"
            )
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, note.encode()[:300], 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_holder(paths: HubPaths) -> str:
    """Who last took the warehouse to write: "process PID (since TIME, COMMAND)"."""
    try:
        pid, day, clock, utc, *command = paths.lock.read_text().split()
    except (OSError, ValueError):
        return "another of the hub's processes"
    what = " ".join(command) or "a hub process"
    return f"process {pid} ({what}, writing since {day} {clock} {utc})"


def open_duckdb(paths: HubPaths, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """duckdb.connect on the warehouse; a program outside the hub holding DuckDB's own lock on
    the file (an analyst's DuckDB shell or SQL client, even read-only) is an OwfError naming
    the file, the program and what to do, not a stack trace suggesting read-only mode."""
    lost = missing_warehouse(paths)
    if lost:
        raise OwfError(lost)
    try:
        return duckdb.connect(str(paths.warehouse), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "Could not set lock" not in text:
            raise OwfError(
                f"the warehouse {paths.warehouse} could not be opened: {text.splitlines()[0][:200]}."
                " The file may be damaged (a full disk, a copy cut short). Restore it, with"
                f" {paths.audit_head.name}, from the hub's latest backup; nothing was changed."
            ) from None
        found = re.search(r"Conflicting lock is held in (.*?\(PID (\d+)\))", text)
        holder = found.group(1) if found else "another process"
        if found and _is_dbt(int(found.group(2))):
            # The hub's lock is gone with the process that took it, not its dbt child.
            raise OwfError(
                f"the warehouse {paths.warehouse} is still being built by a dbt process (PID"
                f" {found.group(2)}) left running by an `owf publish` or models build that was"
                " stopped: wait for it to finish (a minute or two), or stop it"
                f" (`kill {found.group(2)}`), then run the command again. Nothing was changed."
            ) from None
        raise OwfError(
            f"the warehouse {paths.warehouse} is open in another program ({holder}): DuckDB"
            " lets nothing write it while another process has it open, even read-only."
            " Close that program or its connection, then run the command again. Nothing was"
            " changed."
        ) from None


def _is_dbt(pid: int) -> bool:
    """Whether process `pid` is a dbt command (its command line names dbt), as far as /proc
    says; False where it cannot tell."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(a.decode(errors="replace")).name == "dbt" for a in argv[:2])


def rollback(wh: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if DuckDB has not already: after a failed write (a
    full disk) it has, and ROLLBACK's own "no transaction is active" would then replace the
    error that says what went wrong."""
    with contextlib.suppress(duckdb.TransactionException):
        wh.execute("ROLLBACK")


def write_failed(exc: BaseException, what: str) -> OwfError | None:
    """The OwfError for a write the disk refused (full, or over the file size limit), else
    None: the cause, and that nothing of it was recorded."""
    text = str(exc)
    if isinstance(exc, duckdb.IOException | OSError) and any(
        m in text for m in ("No space left", "File too large", "Disk quota")
    ):
        return OwfError(
            f"the warehouse could not be written ({text.splitlines()[0][:200]}): free space on"
            f" its disk (or raise the file size limit) and run again. Nothing of {what} was"
            " recorded."
        )
    return None


def check_not_open_elsewhere(paths: HubPaths, on_wait: Callable[[str], None] | None = None) -> None:
    """Fail now, with the OwfError of open_duckdb, if a program outside the hub has the
    warehouse open; waits (as every writer does) for the hub's own users, telling `on_wait`
    who it waits for (found in review: a command waited behind `owf publish` in silence)."""
    if paths.warehouse.exists():
        with connect(paths, on_wait=on_wait):
            pass


@contextlib.contextmanager
def connect(
    paths: HubPaths, *, write: bool = True, on_wait: Callable[[str], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse, with the warehouse lock held while it is open:
    exclusive to write, shared to read. A reader once opened without it: while the hub
    wrote, `owf hub status` failed ("open in another program": the hub's own ingestion), and
    a reader's open file made a concurrent ingestion fail the same way. `on_wait`: see
    warehouse_lock."""
    with warehouse_lock(paths, shared=not write, on_wait=on_wait):
        if write:
            _remove_compaction_leftovers(paths)
        con = open_duckdb(paths, read_only=not write)
        try:
            yield con
        finally:
            con.close()


# Compaction ------------------------------------------------------------------------------

# Events after which old values sit in freed blocks of the file until it is rewritten.
COMPACTION_OWED_BY = ("purged", "key_rotated")
_COMPACTING = ".compacting"  # warehouse.duckdb.compacting (and its .wal): the file being written


@dataclass(frozen=True)
class Compaction:
    bytes_before: int
    bytes_after: int
    seconds: float


def compaction_owed(con: duckdb.DuckDBPyConnection, *, models_rebuilt: bool = False) -> bool:
    """A purge or a key rotation logged after the last compaction (or with none yet); with
    `models_rebuilt`, after the last compaction that followed a rebuild of the dbt models."""
    owed_by = ", ".join(f"'{e}'" for e in COMPACTION_OWED_BY)
    which = " AND json_extract_string(detail, '$.after') = 'dbt build'" if models_rebuilt else ""
    return bool(
        con.execute(
            # A held package's purge deletes a file, nothing in the database.
            f"SELECT coalesce(max(seq) FILTER (WHERE event IN ({owed_by})"  # noqa: S608
            " AND json_extract_string(detail, '$.held') IS NULL), 0)"
            f" > coalesce(max(seq) FILTER (WHERE event = 'compacted'{which}), 0) FROM audit.events"
        ).fetchone()[0]
    )


def compact_if_owed(
    paths: HubPaths,
    wh: duckdb.DuckDBPyConnection,
    actor: str = "hub",
    *,
    models_rebuilt: bool = False,
) -> Compaction | None:
    """Rewrite warehouse.duckdb if a purge or rotation left old values in it; closes `wh`.

    Call as the last step inside `with connect(paths) as wh:`, after the change's commit and
    audit.write_head, so the hub lock is held throughout. The committed database is copied
    (COPY FROM DATABASE: schemas, tables, views, sequences, macros, constraints) into
    warehouse.duckdb.compacting beside it, the `compacted` event is appended there, the copy
    is checked (the same schemas, tables, views, columns and constraints, the same rows in
    every table, an intact audit chain), checkpointed, fsynced and moved over
    warehouse.duckdb with one rename. A crash or error before the rename leaves the old file
    as it was (the partial copy is removed by the next writer); after it, the new one. Owed
    is read from the audit log, so a compaction that failed is done by the next retention or
    rotation run even if that one changes nothing.

    The dbt build after a purge or rotation replaces the models' tables, whose old blocks
    keep the old values too: it calls this with `models_rebuilt` and a new connection, still
    holding the lock.
    """
    try:
        if not compaction_owed(wh, models_rebuilt=models_rebuilt):
            wh.close()
            return None
        started = time.monotonic()
        wh.execute("CHECKPOINT")
        before = paths.warehouse.stat().st_size
        after = "dbt build" if models_rebuilt else _last_owing_event(wh)
        target = _copy_checked(paths, wh, actor, {"after": after, "bytes_before": before})
    except BaseException:
        wh.close()
        _remove_compaction_leftovers(paths)
        raise
    wh.close()
    try:
        if _wal(paths.warehouse).exists() or _wal(target).exists():
            raise RuntimeError(
                f"a write-ahead log was left beside {paths.warehouse.name} or its copy; not replaced"
            )
        os.chmod(target, stat.S_IMODE(paths.warehouse.stat().st_mode))
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(target, paths.warehouse)
    except BaseException:
        _remove_compaction_leftovers(paths)
        raise
    _fsync_dir(paths.warehouse.parent)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        audit.write_head(paths, con)
    return Compaction(before, paths.warehouse.stat().st_size, time.monotonic() - started)


def _last_owing_event(con: duckdb.DuckDBPyConnection) -> str:
    owed_by = ", ".join(f"'{e}'" for e in COMPACTION_OWED_BY)
    return con.execute(
        f"SELECT event FROM audit.events WHERE event IN ({owed_by})"  # noqa: S608
        " AND json_extract_string(detail, '$.held') IS NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone()[0]


def _copy_checked(paths: HubPaths, wh: duckdb.DuckDBPyConnection, actor: str, detail: dict) -> Path:
    """The warehouse copied to warehouse.duckdb.compacting, logged there, checked, checkpointed."""
    target = paths.warehouse.with_name(paths.warehouse.name + _COMPACTING)
    _remove_compaction_leftovers(paths)
    source = wh.execute("SELECT current_database()").fetchone()[0]
    literal = "'" + str(target).replace("'", "''") + "'"
    wh.execute(f"ATTACH {literal} AS owf_compacted")
    try:
        wh.execute(f"COPY FROM DATABASE {qi(source)} TO owf_compacted")
        wh.execute("USE owf_compacted")
        try:
            audit.append(wh, "compacted", actor=actor, detail=detail)
        finally:
            wh.execute(f"USE {qi(source)}")
        _check_copy(wh, source, "owf_compacted")
        wh.execute("CHECKPOINT owf_compacted")
    finally:
        wh.execute("DETACH owf_compacted")
    return target


_CATALOG = {  # duckdb_<function>: the columns a faithful copy keeps
    "schemas": "schema_name, comment",
    "tables": "schema_name, table_name, comment",
    "views": "schema_name, view_name, sql, comment",
    "columns": "schema_name, table_name, column_name, data_type, column_default, is_nullable",
    "constraints": "schema_name, table_name, constraint_type, constraint_text",
    "sequences": "schema_name, sequence_name, last_value",
    "indexes": "schema_name, table_name, index_name, sql",
    "functions": "schema_name, function_name, function_type, macro_definition",
    "types": "schema_name, type_name, logical_type",
}
_WITH_INTERNAL = {"schemas", "views", "functions", "types"}


def _inventory(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, list]:
    """What COPY FROM DATABASE must carry over, and every table's exact row count."""
    out = {}
    for function, columns in _CATALOG.items():
        internal = " AND NOT internal" if function in _WITH_INTERNAL else ""
        out[function] = sorted(
            con.execute(
                f"SELECT {columns} FROM duckdb_{function}() WHERE database_name = $d{internal}",  # noqa: S608
                {"d": db},
            ).fetchall(),
            key=repr,
        )
    out["rows"] = {
        (schema, table): con.execute(
            f"SELECT count(*) FROM {qi(db)}.{qi(schema)}.{qi(table)}"  # noqa: S608
        ).fetchone()[0]
        for schema, table, _ in out["tables"]
    }
    return out


def _check_copy(con: duckdb.DuckDBPyConnection, source: str, copy: str) -> None:
    """The copy holds everything the source does (and one more audit event); raises if not."""
    old, new = _inventory(con, source), _inventory(con, copy)
    old["rows"][("audit", "events")] += 1  # the `compacted` event
    differs = [k for k in old if old[k] != new[k]]
    if differs:
        raise RuntimeError(f"the compacted copy of the warehouse differs in {', '.join(differs)}")
    con.execute(f"USE {qi(copy)}")
    try:
        problems = audit.verify(con)[1]
    finally:
        con.execute(f"USE {qi(source)}")
    if problems:
        raise RuntimeError(f"the compacted copy's audit chain: {problems[0].message}")


def _wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def _remove_compaction_leftovers(paths: HubPaths) -> None:
    """A compaction interrupted before its rename leaves a partial copy: never used, removed."""
    for p in paths.warehouse.parent.glob(paths.warehouse.name + _COMPACTING + "*"):
        p.unlink(missing_ok=True)


def raw_table(extract: str) -> str:
    return f"raw.{qi(extract)}"


def ensure_schema(con: duckdb.DuckDBPyConnection, std: Standard) -> None:
    """raw.submissions, one raw table per extract (the standard's submitted form plus lineage),
    and audit.events. Idempotent; new optional fields of a later standard are added as columns."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS raw.submissions (
            submission_id VARCHAR PRIMARY KEY,
            package_sha256 VARCHAR NOT NULL,
            org_code VARCHAR,
            extract VARCHAR,
            period VARCHAR,
            standard_version VARCHAR,
            agreement_id VARCHAR,
            key_epoch INTEGER,
            hub_key_epoch INTEGER,
            row_count BIGINT,
            fields VARCHAR[],
            profile VARCHAR,
            tool_version VARCHAR,
            created_at VARCHAR,
            received_at TIMESTAMP,
            decided_at TIMESTAMP,
            status VARCHAR NOT NULL,
            status_reason VARCHAR,
            superseded_by VARCHAR,
            package_file VARCHAR,
            retention_months INTEGER
        )
        """
    )
    for name, extract in std.extracts.items():
        cols = [
            "submission_id VARCHAR NOT NULL",
            "payload_row BIGINT NOT NULL",
            "key_epoch INTEGER NOT NULL",
            "hub_key_epoch INTEGER NOT NULL",
        ]
        for f in extract.fields_in(SUBMITTED):
            cols.append(f"{qi(f.name)} {PAYLOAD_SQL_TYPES.get(f.type, 'VARCHAR')}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(name)} ({', '.join(cols)})")
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' AND table_name = $t",
                {"t": name},
            ).fetchall()
        }
        for f in extract.fields_in(SUBMITTED):
            if f.name not in existing:
                con.execute(
                    f"ALTER TABLE {raw_table(name)} ADD COLUMN {qi(f.name)} {PAYLOAD_SQL_TYPES.get(f.type, 'VARCHAR')}"
                )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS audit.events (
            seq BIGINT PRIMARY KEY,
            event_at TIMESTAMP NOT NULL,
            event VARCHAR NOT NULL,
            actor VARCHAR NOT NULL,
            submission_id VARCHAR,
            org_code VARCHAR,
            extract VARCHAR,
            period VARCHAR,
            detail VARCHAR,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL
        )
        """
    )


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
            {"s": schema, "t": table},
        ).fetchall()[0][0]
    )


def warehouse_exists(paths: HubPaths) -> bool:
    return Path(paths.warehouse).exists()


def missing_warehouse(paths: HubPaths) -> str | None:
    """What to say when the warehouse file is gone from a hub that has used one, else None.

    The audit head (written outside the database after every committed event) shows the hub
    had a warehouse: opening the path would make a new, empty one, and the next ingest and
    publication would go on from nothing, dropping every landed submission and the audit log
    from `latest` without a word. So nothing opens it; the file must be restored."""
    if paths.warehouse.exists() or not paths.audit_head.exists():
        return None
    head = audit.read_head(paths)
    events = f"{head['seq']:,} audit events" if head and "seq" in head else "audit events"
    return (
        f"the warehouse {paths.warehouse} is missing, but this hub has recorded {events}"
        f" ({paths.audit_head.name}): it was deleted or moved. Restore it from the hub's latest"
        " backup (or put it back where it was) and run the command again. Nothing was changed:"
        " a new, empty warehouse here would lose every submission landed so far."
    )


def refresh_governance_tables(con: duckdb.DuckDBPyConnection, gov) -> None:
    """Copy the registry into the warehouse (governance.*), for the models that need it:
    which organisations exist, and which extracts each agreement expects from whom, when."""
    import pyarrow as pa

    con.execute("CREATE SCHEMA IF NOT EXISTS governance")
    orgs = pa.table(
        {
            "org_code": [o.ods_code for o in gov.organisations.values()],
            "org_name": [o.name for o in gov.organisations.values()],
            "sector": [o.sector for o in gov.organisations.values()],
            "kind": [o.kind for o in gov.organisations.values()],
            "is_hub_operator": [o.ods_code == gov.hub_operator for o in gov.organisations.values()],
        }
    )
    rows = {
        k: []
        for k in (
            "agreement_id",
            "org_code",
            "extract",
            "start_date",
            "end_date",
            "status",
            "suppress_max",
            "round_to",
        )
    }
    for a in gov.agreements.values():
        for party in a.parties:
            if party.ods_code == gov.hub_operator:
                continue
            for extract in a.extracts:
                rows["agreement_id"].append(a.id)
                rows["org_code"].append(party.ods_code)
                rows["extract"].append(extract)
                rows["start_date"].append(a.start_date)
                rows["end_date"].append(a.end_date)
                rows["status"].append(a.status)
                rows["suppress_max"].append(a.disclosure.suppress_max)
                rows["round_to"].append(a.disclosure.round_to)
    agreements = pa.table(
        rows,
        schema=pa.schema(
            [
                ("agreement_id", pa.string()),
                ("org_code", pa.string()),
                ("extract", pa.string()),
                ("start_date", pa.date32()),
                ("end_date", pa.date32()),
                ("status", pa.string()),
                ("suppress_max", pa.int32()),
                ("round_to", pa.int32()),
            ]
        ),
    )
    # The fields each agreement lets each extract carry, one row per field (a list column
    # would not travel to PostgreSQL or to dbt's unit-test fixtures).
    fields = [
        (a.id, extract, f)
        for a in gov.agreements.values()
        for extract, fs in a.extracts.items()
        for f in fs
    ]
    agreement_fields = pa.table(
        {
            "agreement_id": [r[0] for r in fields],
            "extract": [r[1] for r in fields],
            "field": [r[2] for r in fields],
        },
        schema=pa.schema(
            [("agreement_id", pa.string()), ("extract", pa.string()), ("field", pa.string())]
        ),
    )
    for name, table in (
        ("organisations", orgs),
        ("agreement_extracts", agreements),
        ("agreement_fields", agreement_fields),
    ):
        con.register("owf_gov_incoming", table)
        con.execute(f"CREATE OR REPLACE TABLE governance.{name} AS SELECT * FROM owf_gov_incoming")  # noqa: S608
        con.unregister("owf_gov_incoming")
