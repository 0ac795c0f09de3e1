"""The publication gate's Great Expectations suites over the marts.

One suite per mart (expectations/fct_*.json) plus a cross-table suite (organisations
present). Each failure names its keys (period, organisation, breakdown) - the marts hold no
identifiers to leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.hub.home import HubPaths
from pipelines.quality.gx_suites import FRAMES, GxRunner, SuiteResult, batch_sql, load_suite
from pipelines.transform.incremental import build_day, recorded_build_day

# Suite name -> the mart asset it gates.
MART_SUITES: dict[str, str] = {
    "fct_workforce_in_post": "fct_workforce_in_post",
    "organisations_present": "fct_workforce_in_post",
    "fct_turnover": "fct_turnover",
    "fct_stability": "fct_stability",
    "fct_vacancies": "fct_vacancies",
    "fct_sickness_absence": "fct_sickness_absence",
    "fct_sickness_reasons": "fct_sickness_reasons",
    "fct_workforce_profile": "fct_workforce_profile",
    "fct_wres_indicator_1": "fct_wres_indicator_1",
    "fct_temporary_staffing": "fct_temporary_staffing",
    "fct_flows_between_organisations": "fct_flows_between_organisations",
    "fct_leaving_reasons": "fct_leaving_reasons",
    "fct_data_quality": "fct_data_quality",
}


@dataclass
class MartCheck:
    suite: str
    mart: str
    result: SuiteResult

    @property
    def failing_orgs(self) -> list[str]:
        orgs = set()
        for f in self.result.failures:
            for key in ("org_code", "from_org_code"):
                if f.keys.get(key):
                    orgs.add(str(f.keys[key]))
        return sorted(orgs)

    def describe(self) -> str:
        if self.result.success:
            return f"{self.suite}: {self.result.evaluated} expectations passed"
        orgs = self.failing_orgs
        where = f" for {', '.join(orgs)}" if orgs else ""
        lines = [f"{self.suite} failed{where}:"]
        by_rule: dict[str, list] = {}
        for f in self.result.failures:
            by_rule.setdefault(f.rule, []).append(f)
        for rule, failures in by_rule.items():
            first = failures[0]
            column = f" [{first.column}]" if first.column else ""
            keys = "; ".join(
                ", ".join(f"{k}={v}" for k, v in f.keys.items()) for f in failures[:3] if f.keys
            )
            more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
            lines.append(
                f"{rule}{column}: {first.message}" + (f" (at {keys}{more})" if keys else "")
            )
        return " ".join(lines)


def run_mart_suites(paths: HubPaths, suites: list[str] | None = None) -> list[MartCheck]:
    runner = GxRunner()
    out: list[MartCheck] = []
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        # The day the last build's models used (in_force()), else today's: a build that ran
        # past midnight has its frames judged by its own day.
        day = recorded_build_day(con) or build_day(con)
        for name in suites or list(MART_SUITES):
            suite = load_suite(name)
            keys = suite.meta.get("keys", [])
            if name in FRAMES:
                frame = con.execute(FRAMES[name], {"day": day}).df()
            else:
                table = f"marts.{MART_SUITES[name]}"
                available = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
                frame = con.sql(batch_sql(suite, table, available, keys)).df()
            out.append(MartCheck(name, MART_SUITES[name], runner.validate(suite, frame, keys)))
    finally:
        con.close()
    return out
