"""Retention: purge record-level submissions past their agreement's retention period.

A submission is kept for its agreement's `retention.months`, counted from the end of the
month it covers. Purging deletes its rows from raw.<extract>, keeps its raw.submissions
record with status `purged`, and logs it. Everything derived from raw is rebuilt from what
remains: after a retention run that purged anything, the `rebuild_after_purge` sensor
requests the publish job (dbt build of every model, the quality gate, a new publication).
Earlier publications are disclosure-controlled aggregates and stay as published.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.warehouse import compact_if_owed, connect, ensure_schema, raw_table
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
            wh.execute("BEGIN TRANSACTION")
            try:
                delete = f"DELETE FROM {raw_table(extract)} WHERE submission_id = $s"  # noqa: S608
                rows = wh.execute(delete, {"s": sid}).fetchall()
                n = rows[0][0] if rows else 0
                wh.execute(
                    "UPDATE raw.submissions SET status = 'purged', status_reason = $r, decided_at = $now WHERE submission_id = $s",
                    {
                        "r": f"retention period of {months} months ended",
                        "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                        "s": sid,
                    },
                )
                audit.append(
                    wh,
                    "purged",
                    actor=actor,
                    submission_id=sid,
                    org_code=org,
                    extract=extract,
                    period=period,
                    detail={"rows": n, "retention_months": months},
                )
                wh.execute("COMMIT")
            except Exception:
                wh.execute("ROLLBACK")
                raise
            # Each purge's event is covered by audit-head.json before the next one starts.
            audit.write_head(paths, wh)
            purged.append(Purged(sid, org, extract, period, n))
        compact_if_owed(paths, wh, actor)  # DELETE leaves the purged values in the file
    return purged
