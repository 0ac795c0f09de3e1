"""The audit log: every event appended to audit.events, each row hash-chained to the one before.

hash(row) = SHA-256 of the canonical JSON of [seq, at, event, actor, submission_id, org_code,
extract, period, detail, prev_hash], and prev_hash is the previous row's hash (64 zeros for
the first). Events are appended inside the same transaction as the change they record, so
the log and the warehouse never disagree. After each commit the newest (seq, hash) is also
written to <hub>/audit-head.json, outside the database, so that deleting the newest rows is
detected too.

`verify` walks the chain and names the first row that breaks it, and how: edited (its hash
does not match its contents), deleted (a sequence number is missing), reordered (the chain
is intact row by row but the sequence does not follow it), or truncated (rows after the
recorded head are gone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.files import write_whole
from pipelines.hub.home import HubPaths

GENESIS = "0" * 64
EVENTS = (
    "received",
    "verified",
    "refused",
    "accepted",
    "quarantined",
    "released",
    "discarded",
    "superseded",
    "duplicate",
    "published",
    "publication_blocked",
    "purged",
    "key_rotated",
    "compacted",
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def row_hash(
    seq: int,
    at: dt.datetime,
    event: str,
    actor: str,
    submission_id,
    org_code,
    extract,
    period,
    detail: str | None,
    prev_hash: str,
) -> str:
    payload = [
        seq,
        at.isoformat(),
        event,
        actor,
        submission_id,
        org_code,
        extract,
        period,
        detail,
        prev_hash,
    ]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode("utf-8")).hexdigest()


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """The newest row's (seq, hash), or (0, GENESIS) for an empty log."""
    last = con.execute("SELECT seq, hash FROM audit.events ORDER BY seq DESC LIMIT 1").fetchall()
    return (last[0][0], last[0][1]) if last else (0, GENESIS)


class Batch:
    """The events of one transaction, chained in memory and written with one INSERT.

    `flush` before COMMIT. The chain continues from `start` (a (seq, hash) this connection
    committed last) or, by default, from the newest row in the log. After a COMMIT, `head`
    is where the next transaction's batch continues; after a ROLLBACK it is not (read the
    head again). Reading the head and inserting once per transaction, rather than per event,
    is what makes landing a national month's 1,100 packages affordable.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, start: tuple[int, str] | None = None):
        self.con = con
        self.head = start if start is not None else head(con)
        self.rows: list[tuple] = []

    def append(
        self,
        event: str,
        *,
        actor: str = "hub",
        submission_id: str | None = None,
        org_code: str | None = None,
        extract: str | None = None,
        period: str | None = None,
        detail: dict | str | None = None,
    ) -> tuple[int, str]:
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        seq, prev = self.head[0] + 1, self.head[1]
        at = _now()
        detail_text = (
            detail
            if isinstance(detail, str) or detail is None
            else json.dumps(detail, sort_keys=True, default=str)
        )
        h = row_hash(
            seq, at, event, actor, submission_id, org_code, extract, period, detail_text, prev
        )
        self.rows.append(
            (seq, at, event, actor, submission_id, org_code, extract, period, detail_text, prev, h)
        )
        self.head = (seq, h)
        return seq, h

    def flush(self) -> None:
        """Insert the batched events (inside the caller's transaction)."""
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        table = pa.table(
            {
                "seq": pa.array(columns[0], pa.int64()),
                "event_at": pa.array(columns[1], pa.timestamp("us")),
                **{
                    name: pa.array(values, pa.string())
                    for name, values in zip(_TEXT_COLUMNS, columns[2:], strict=True)
                },
            }
        )
        self.con.register("owf_audit_batch", table)
        try:
            self.con.execute(
                "INSERT INTO audit.events SELECT seq, event_at, event, actor, submission_id,"
                " org_code, extract, period, detail, prev_hash, hash FROM owf_audit_batch"
            )
        finally:
            self.con.unregister("owf_audit_batch")
        self.rows = []


_TEXT_COLUMNS = (
    "event",
    "actor",
    "submission_id",
    "org_code",
    "extract",
    "period",
    "detail",
    "prev_hash",
    "hash",
)


def append(con: duckdb.DuckDBPyConnection, event: str, **fields) -> tuple[int, str]:
    """Append one event (call inside the transaction that makes the change); `fields` are
    Batch.append's: actor, submission_id, org_code, extract, period, detail."""
    batch = Batch(con)
    out = batch.append(event, **fields)
    batch.flush()
    return out


def write_head(paths: HubPaths, con: duckdb.DuckDBPyConnection) -> None:
    """Record the newest row's (seq, hash) outside the database, after a commit."""
    record_head(paths, head(con))


def record_head(paths: HubPaths, committed: tuple[int, str]) -> None:
    """Record `committed` (the (seq, hash) of the newest committed row) outside the database.
    Call it after every commit that appended events, before anything else can fail: rows
    committed but not covered by the file could be deleted from the end of the log unseen."""
    seq, hash_ = committed
    if not seq:
        return
    # On disk before anything else goes on (see pipelines.files): a head left empty by a
    # power cut would read as missing, and the log would fail verification, holding back
    # ingestion and publication until a restore that nothing needed.
    write_whole(paths.audit_head, (json.dumps({"seq": seq, "hash": hash_}) + "\n").encode())


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    kind: str  # edited, deleted, reordered, truncated
    message: str


def verify(
    con: duckdb.DuckDBPyConnection, head: dict | None = None, *, head_expected: bool = False
) -> tuple[int, list[AuditProblem]]:
    """(rows checked, problems). Rows are read in table order and in sequence order: the
    chain must hold in both, which is what catches reordering. `head` is the recorded head
    (read_head); with `head_expected` (a hub's own log, whose every commit writes the head),
    a log with rows and no readable head is a problem: without it, deleting the newest rows
    would leave a chain that checks."""
    rows = con.execute(
        "SELECT seq, event_at, event, actor, submission_id, org_code, extract, period, detail, prev_hash, hash"
        " FROM audit.events ORDER BY seq"
    ).fetchall()
    problems: list[AuditProblem] = []
    prev_hash, prev_seq = GENESIS, 0
    by_hash = {r[10]: r[0] for r in rows}
    for i, (
        seq,
        at,
        event,
        actor,
        sid,
        org,
        ext,
        period,
        detail,
        stored_prev,
        stored_hash,
    ) in enumerate(rows):
        expected = row_hash(seq, at, event, actor, sid, org, ext, period, detail, stored_prev)
        if expected != stored_hash:
            problems.append(
                AuditProblem(
                    seq, "edited", f"row {seq} was edited: its contents no longer match its hash"
                )
            )
            break
        if seq != prev_seq + 1:
            problems.append(
                AuditProblem(
                    seq,
                    "deleted",
                    f"row(s) {prev_seq + 1}..{seq - 1} are missing before row {seq}: deleted",
                )
            )
            break
        if stored_prev != prev_hash:
            following = rows[i + 1] if i + 1 < len(rows) else None
            if following is not None and following[9] == prev_hash:
                problems.append(
                    AuditProblem(
                        seq,
                        "reordered",
                        f"rows {seq} and {following[0]} are out of order: row {following[0]} is the one"
                        f" that follows row {prev_seq} in the chain",
                    )
                )
            elif stored_prev in by_hash:
                problems.append(
                    AuditProblem(
                        seq,
                        "reordered",
                        f"row {seq} follows row {by_hash[stored_prev]} in the chain, not row {prev_seq}: rows were reordered",
                    )
                )
            else:
                problems.append(
                    AuditProblem(
                        seq, "deleted", f"the row before row {seq} in the chain is missing: deleted"
                    )
                )
            break
        prev_hash, prev_seq = stored_hash, seq
    if not problems and rows and head_expected and not _usable(head):
        problems.append(
            AuditProblem(
                prev_seq,
                "head_missing",
                "the recorded head of the log (audit-head.json) is missing or unreadable, so"
                f" rows deleted after row {prev_seq} could not be detected. Restore"
                " audit-head.json from the hub's latest backup, beside the warehouse it was"
                " backed up with",
            )
        )
    if not problems and _usable(head):
        if head["seq"] > prev_seq:
            problems.append(
                AuditProblem(
                    prev_seq + 1,
                    "truncated",
                    f"the log ends at row {prev_seq} but row {head['seq']} was written: rows {prev_seq + 1}..{head['seq']} were deleted",
                )
            )
        else:
            match = [r for r in rows if r[0] == head["seq"]]
            if match and match[0][10] != head["hash"]:
                problems.append(
                    AuditProblem(
                        head["seq"],
                        "edited",
                        f"row {head['seq']} differs from the recorded head: rewritten",
                    )
                )
    return len(rows), problems


def _usable(head: dict | None) -> bool:
    return (
        isinstance(head, dict)
        and type(head.get("seq")) is int
        and isinstance(head.get("hash"), str)
    )


def read_head(paths: HubPaths) -> dict | None:
    try:
        return json.loads(paths.audit_head.read_text())
    except (FileNotFoundError, ValueError):
        return None
