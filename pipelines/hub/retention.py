"""Retention: purge record-level submissions past their agreement's retention period.

A submission is kept for its agreement's `retention.months`, counted from the end of the
month it covers. Purging deletes its rows from raw.<extract>, keeps its raw.submissions
record with status `purged`, and logs it. Everything derived from raw is rebuilt from what
remains: after a retention run that purged anything, the `rebuild_after_purge` sensor
requests the publish job (dbt build of every model, the quality gate, a new publication).
Earlier publications are disclosure-controlled aggregates and stay as published.

Held submissions (quarantined or refused) have no rows in raw, but their package files hold
stage-1 pseudonyms: past their retention the file is deleted and the record becomes `purged`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.governance import load_governance
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.ingest import held_dir
from pipelines.hub.warehouse import compact_if_owed, connect, ensure_schema, raw_table, rollback
from pipelines.standard import load_standard


@dataclass(frozen=True)
class Purged:
    submission_id: str
    org_code: str
    extract: str
    period: str
    rows: int


def add_months(day: dt.date, months: int) -> dt.date:
    idx = day.year * 12 + day.month - 1 + months
    year, month = divmod(idx, 12)
    import calendar

    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def purge_expired(
    paths: HubPaths, today: dt.date | None = None, actor: str = "retention"
) -> list[Purged]:
    today = today or dt.date.today()
    std = load_standard()
    purged: list[Purged] = []
    with connect(paths) as wh:
        ensure_schema(wh, std)
        candidates = wh.execute(
            "SELECT submission_id, org_code, extract, period, retention_months FROM raw.submissions"
            " WHERE status IN ('accepted', 'superseded') AND retention_months IS NOT NULL"
        ).fetchall()
        for sid, org, extract, period, months in candidates:
            y, m = (int(x) for x in period.split("-"))
            period_end = add_months(dt.date(y, m, 1), 1) - dt.timedelta(days=1)
            if add_months(period_end, months) >= today:
                continue
            n = _record_purge(
                paths,
                wh,
                (sid, org, extract, period),
                f"retention period of {months} months ended",
                {"retention_months": months},
                actor,
                delete_from=raw_table(extract),
            )
            purged.append(Purged(sid, org, extract, period, n))
        _purge_held(paths, wh, today, actor)
        compact_if_owed(paths, wh, actor)  # DELETE leaves the purged values in the file
    return purged


def _purge_held(paths: HubPaths, wh, today: dt.date, actor: str) -> None:
    """Held (quarantined or refused) submissions past their retention: the record becomes
    `purged` (logged) and the package file is deleted at once, with the warehouse still
    held. (Found in review: the files were deleted after the compaction that follows, and
    after the warehouse was let go, so a compaction that failed, on a full disk say, left
    files of stage-1 pseudonyms whose records said they were deleted, and nothing looked
    for them again.) A held package holds stage-1 pseudonyms and none of its rows is in
    raw, so the file is all there is to purge.
    Its retention is the agreement's it was quarantined under, or, refused before any
    agreement applied, the policy's default; counted from the end of the month it covers,
    or (no well-formed period) the month it arrived in."""
    default = load_governance(paths.governance).retention_default_months
    rows = wh.execute(
        "SELECT submission_id, org_code, extract, period, received_at, retention_months,"
        " package_file, status FROM raw.submissions WHERE status IN ('quarantined', 'refused')"
    ).fetchall()
    for sid, org, extract, period, received_at, months, package_file, status in rows:
        months = default if months is None else months
        start = _month_start(period) or dt.date(received_at.year, received_at.month, 1)
        if add_months(add_months(start, 1) - dt.timedelta(days=1), months) >= today:
            continue
        package = held_dir(paths, status, org) / package_file if package_file else None
        _record_purge(
            paths,
            wh,
            (sid, org, extract, period),
            f"retention period of {months} months ended while {status}: package file deleted",
            {"held": status, "retention_months": months, "file": package_file},
            actor,
        )
        if package is not None:
            package.unlink(missing_ok=True)


def _record_purge(
    paths: HubPaths,
    wh,
    submission: tuple,
    reason: str,
    detail: dict,
    actor: str,
    delete_from: str | None = None,
) -> int:
    """One purge in one transaction: the rows deleted from `delete_from` (a raw table, named
    by the standard, not by input), the record `purged`, the event logged; then the audit
    head, so that each purge is covered before the next one starts. Returns the rows deleted."""
    sid, org, extract, period = submission
    wh.execute("BEGIN TRANSACTION")
    try:
        n = 0
        if delete_from is not None:
            delete = f"DELETE FROM {delete_from} WHERE submission_id = $s"  # noqa: S608
            rows = wh.execute(delete, {"s": sid}).fetchall()
            n = rows[0][0] if rows else 0
        wh.execute(
            "UPDATE raw.submissions SET status = 'purged', status_reason = $r, decided_at = $now"
            " WHERE submission_id = $s",
            {"r": reason, "now": dt.datetime.now(dt.UTC).replace(tzinfo=None), "s": sid},
        )
        audit.append(
            wh,
            "purged",
            actor=actor,
            submission_id=sid,
            org_code=org,
            extract=extract,
            period=period,
            detail=({"rows": n} if delete_from is not None else {}) | detail,
        )
        wh.execute("COMMIT")
    except Exception:
        rollback(wh)
        raise
    audit.write_head(paths, wh)
    return n


def _month_start(period) -> dt.date | None:
    try:
        y, m = (int(x) for x in period.split("-"))
        return dt.date(y, m, 1)
    except (AttributeError, ValueError):
        return None
