"""The system's headline figures, read from the marts (not recomputed)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import OwfError
from pipelines.hub.warehouse import connect
from pipelines.publish.disclosure import round_decimals


@dataclass(frozen=True)
class Headline:
    period: str
    headcount: int
    fte: float
    organisations: int
    leaver_rate_system: float | None
    leaver_rate_organisations: float | None
    leavers_staying_in_system: int | None
    stability_system: float | None
    stability_organisations: float | None
    vacancy_rate: float | None
    sickness_rate: float | None
    # organisations the system's vacancy and sickness rates are of (those that sent the extract)
    vacancy_organisations: int = 0
    sickness_organisations: int = 0


def _one(wh, sql: str, params: dict):
    rows = wh.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def headline(paths, period: str | None = None) -> Headline:
    if not paths.warehouse.exists():
        raise OwfError(f"no warehouse at {paths.warehouse}")
    with connect(paths, write=False) as wh:
        period = period or _one(wh, "SELECT max(period) FROM marts.fct_workforce_in_post", {})
        if period is None:
            raise OwfError("the models have no data yet: build them first (owf models build)")
        p = {"p": period}
        if _one(wh, SQL["headcount"], p) is None:
            first, last = wh.execute(
                "SELECT min(period), max(period) FROM marts.fct_workforce_in_post"
            ).fetchall()[0]
            raise OwfError(
                f"no census for {period} in the models (censuses {first} to {last}):"
                " give --period one of those (YYYY-MM), or ingest that month's staff in post"
                " and run `owf publish`"
            )
        return Headline(
            period=period,
            headcount=_one(wh, SQL["headcount"], p),
            fte=_one(wh, SQL["fte"], p),
            organisations=_one(wh, SQL["organisations"], p),
            leaver_rate_system=_one(wh, SQL["leaver_rate_system"], p),
            leaver_rate_organisations=_one(wh, SQL["leaver_rate_organisations"], p),
            leavers_staying_in_system=_one(wh, SQL["leavers_staying_in_system"], p),
            stability_system=_one(wh, SQL["stability_system"], p),
            stability_organisations=_one(wh, SQL["stability_organisations"], p),
            vacancy_rate=_one(wh, SQL["vacancy_rate"], p),
            sickness_rate=_one(wh, SQL["sickness_rate"], p),
            vacancy_organisations=_one(wh, SQL["vacancy_organisations"], p),
            sickness_organisations=_one(wh, SQL["sickness_organisations"], p),
        )


_TOTAL = " FROM marts.fct_workforce_in_post WHERE level = 'system' AND dimension = 'total' AND period = $p"
_TURNOVER = (
    " FROM marts.fct_turnover WHERE period = $p AND window_months = 12 AND staff_group = 'ALL'"
    " AND method = 'nhs_average_headcount'"
)
SQL = {
    "headcount": "SELECT headcount" + _TOTAL,
    "fte": "SELECT fte" + _TOTAL,
    "organisations": "SELECT count(DISTINCT org_code) FROM marts.fct_workforce_in_post"
    " WHERE level = 'organisation' AND period = $p",
    "leaver_rate_system": "SELECT leaver_rate" + _TURNOVER + " AND level = 'system'",
    "leaver_rate_organisations": "SELECT leaver_rate"
    + _TURNOVER
    + " AND level = 'all_organisations'",
    "leavers_staying_in_system": "SELECT leavers_staying_in_system"
    + _TURNOVER
    + " AND level = 'all_organisations'",
    "stability_system": "SELECT stability_index FROM marts.fct_stability"
    " WHERE period = $p AND level = 'system' AND staff_group = 'ALL'",
    "stability_organisations": "SELECT stability_index FROM marts.fct_stability"
    " WHERE period = $p AND level = 'all_organisations' AND staff_group = 'ALL'",
    "vacancy_rate": "SELECT vacancy_rate FROM marts.fct_vacancies"
    " WHERE period = $p AND level = 'system' AND staff_group = 'ALL'",
    "sickness_rate": "SELECT sickness_rate FROM marts.fct_sickness_absence"
    " WHERE period = $p AND level = 'system' AND staff_group = 'ALL'",
    "vacancy_organisations": "SELECT count(DISTINCT org_code) FROM marts.fct_vacancies"
    " WHERE level = 'organisation' AND period = $p",
    "sickness_organisations": "SELECT count(DISTINCT org_code) FROM marts.fct_sickness_absence"
    " WHERE level = 'organisation' AND period = $p",
}


NO_WINDOW = "n/a (needs a census 12 months earlier)"


def _pct(x: float | None, missing: str) -> str:
    # Halves away from zero, as the publication rounds (Python's format gives 6.25 -> "6.2").
    return missing if x is None else f"{round_decimals([x * 100], 1)[0]:.1f}%"


def _of(n: int, total: int) -> str:
    """Whose figure a system rate is, where not every organisation sent the extract."""
    return "" if n == total else f" ({n} of {total} organisations: those that sent it)"


def render_headline(h: Headline) -> str:
    """The figures, and for one the models do not have, "n/a" with the reason: never a 0."""
    if h.leaver_rate_organisations is None and h.leaver_rate_system is None:
        leavers = [f"    12-month leaver rate      {NO_WINDOW}"]
    else:
        leavers = [
            f"    12-month leaver rate      {_pct(h.leaver_rate_organisations, 'n/a')} leaving their"
            f" organisation; {_pct(h.leaver_rate_system, 'n/a')} leaving the system",
            f"                              ({h.leavers_staying_in_system:,} organisation leavers"
            " stayed in the system)"
            if h.leavers_staying_in_system is not None
            else "",
        ]
    if h.stability_organisations is None and h.stability_system is None:
        stability = NO_WINDOW
    else:
        stability = (
            f"{_pct(h.stability_organisations, 'n/a')} organisation;"
            f" {_pct(h.stability_system, 'n/a')} system"
        )
    lines = [
        f"  System headline, {h.period} ({h.organisations} organisations):",
        f"    headcount                 {h.headcount:,} people (each counted once across the system)",
        f"    FTE                       {round_decimals([h.fte], 1)[0]:,.1f}",
        *leavers,
        f"    stability (12 months)     {stability}",
        f"    vacancy rate              {_pct(h.vacancy_rate, f'n/a (no vacancies for {h.period})')}"
        + (_of(h.vacancy_organisations, h.organisations) if h.vacancy_rate is not None else ""),
        "    sickness absence rate     "
        + _pct(h.sickness_rate, f"n/a (no sickness absence for {h.period})")
        + (_of(h.sickness_organisations, h.organisations) if h.sickness_rate is not None else ""),
    ]
    return "\n".join(line for line in lines if line)
