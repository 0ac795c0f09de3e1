"""Disclosure control: the rule holds for every cell of random small systems, and an attacker
with the published totals recovers no suppressed cell.

The table shapes and disclosure specs are the real ones, read from the dbt YAML of the
published models; the systems (organisations, their policies, staff-group counts) are drawn
by Hypothesis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.governance import load_governance
from pipelines.paths import PROJECT_ROOT
from pipelines.publish.disclosure import (
    SUPPRESSED_COLUMN,
    Policy,
    TableSpec,
    additive_groups,
    determined_cells,
    exempt_mask,
    protect,
    protection_order,
    round_decimals,
    round_to_base,
)
from pipelines.publish.publication import control, published_models
from tests.attack import primary_rule_violations, recovered_cells

PUBLISHED = PROJECT_ROOT / "dbt_project" / "models" / "published"


def spec_of(model: str) -> TableSpec:
    data = yaml.safe_load((PUBLISHED / f"{model}.yml").read_text())
    [node] = data["models"]
    return TableSpec.from_meta(node["meta"]["disclosure"])


GROUPS = ["NURSES_HV", "MIDWIVES", "HCHS_DOCTORS", "STT", "SUPPORT_DNM"]
# Small numbers on purpose: most cells are near the threshold.
cell_counts = st.one_of(st.integers(0, 12), st.integers(0, 60))
policies = st.sampled_from([Policy(7, 5), Policy(9, 10), Policy(10, 5)])


@st.composite
def small_systems(draw):
    n_orgs = draw(st.integers(1, 5))
    orgs = [f"R{i:02d}" for i in range(n_orgs)]
    groups = GROUPS[: draw(st.integers(1, len(GROUPS)))]
    counts = {(o, g): draw(cell_counts) for o in orgs for g in groups}
    extra = {(o, g): draw(st.integers(0, 2)) for o in orgs for g in groups}
    fte_share = {(o, g): draw(st.floats(0.3, 1.0)) for o in orgs for g in groups}
    policy = {o: draw(policies) for o in orgs}
    periods = ["2026-09", "2026-10"][: draw(st.integers(1, 2))]
    return orgs, groups, counts, extra, fte_share, policy, periods


def workforce_in_post(system) -> pd.DataFrame:
    """A pub_workforce_in_post-shaped table: organisation and system rows, total and by group
    (a zero cell has no row, as in the marts)."""
    orgs, groups, counts, extra, share, _, periods = system
    rows = []
    for period in periods:
        for g in groups:
            for o in orgs:
                hc = counts[(o, g)]
                if hc:
                    rows.append(
                        (
                            period,
                            "organisation",
                            o,
                            "staff_group",
                            g,
                            hc,
                            round(hc * share[(o, g)], 2),
                            hc + extra[(o, g)],
                        )
                    )
        by_level: dict[tuple, list[float]] = {}
        for r in list(rows):
            if r[0] != period:
                continue
            for key in (
                (r[1], r[2], "total", "ALL"),
                ("system", "SYSTEM", "staff_group", r[4]),
                ("system", "SYSTEM", "total", "ALL"),
            ):
                acc = by_level.setdefault(key, [0, 0.0, 0])
                acc[0] += r[5]
                acc[1] += r[6]
                acc[2] += r[7]
        for (level, org, dim, value), (hc, fte, rc) in by_level.items():
            rows.append((period, level, org, dim, value, hc, round(fte, 2), rc))
    frame = pd.DataFrame(
        rows,
        columns=[
            "period",
            "level",
            "org_code",
            "dimension",
            "dimension_value",
            "headcount",
            "fte",
            "role_count",
        ],
    )
    return frame.drop_duplicates(
        ["period", "level", "org_code", "dimension", "dimension_value"]
    ).reset_index(drop=True)


def turnover(system, social_care: frozenset = frozenset()) -> pd.DataFrame:
    """A pub_turnover-shaped table: organisations, all organisations (their sum) and system.
    Organisations in `social_care` have each row again under the Skills for Care method: the
    same counts, another rate (as fct_turnover has them)."""
    orgs, groups, counts, extra, _, _, periods = system
    rows = []
    for period in periods:
        for g in groups:
            start = {o: counts[(o, g)] for o in orgs}
            leavers = {o: min(extra[(o, g)] * 3, start[o]) for o in orgs}
            for o in orgs:
                if start[o] == 0:
                    continue
                end = start[o] - leavers[o] + extra[(o, g)]
                rows.append(
                    _turnover_row(
                        period,
                        "organisation",
                        o,
                        g,
                        start[o],
                        end,
                        leavers[o],
                        extra[(o, g)],
                        leavers[o] // 2,
                    )
                )
            s = sum(start.values())
            if s:
                e = sum(start[o] - leavers[o] + extra[(o, g)] for o in orgs)
                rows.append(
                    _turnover_row(
                        period,
                        "all_organisations",
                        "ALL_ORGANISATIONS",
                        g,
                        s,
                        e,
                        sum(leavers.values()),
                        sum(extra[(o, g)] for o in orgs),
                        sum(v // 2 for v in leavers.values()),
                    )
                )
                rows.append(
                    _turnover_row(
                        period, "system", "SYSTEM", g, s, e, sum(leavers.values()) // 2, 1, 0
                    )
                )
    rows += [
        (r[0], r[1], "skills_for_care_current_staff", *r[3:11], _div(r[8], r[7]), _div(r[9], r[7]))
        for r in rows
        if r[3] == "organisation" and r[4] in social_care
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "period",
            "window_months",
            "method",
            "level",
            "org_code",
            "staff_group",
            "headcount_start",
            "headcount_end",
            "leavers",
            "joiners",
            "leavers_staying_in_system",
            "leaver_rate",
            "joiner_rate",
        ],
    )


def _div(a, b):
    return a / b if b else None


def _turnover_row(period, level, org, group, start, end, leavers, joiners, staying):
    avg = (start + end) / 2
    return (
        period,
        12,
        "nhs_average_headcount",
        level,
        org,
        group,
        start,
        end,
        leavers,
        joiners,
        staying,
        leavers / avg if avg else None,
        joiners / avg if avg else None,
    )


def _resolver(policy: dict):
    def resolve(orgs):
        p = Policy(7, 5)
        for o in orgs:
            if o in policy:
                p = p.stricter(policy[o])
        return p

    return resolve


FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _system(counts: dict, groups: list[str], policy: Policy) -> tuple:
    """A one-period system with FTE 1.0 a person and no second assignments."""
    orgs = sorted({o for o, _ in counts})
    cells = {(o, g): counts.get((o, g), 0) for o in orgs for g in groups}
    return (
        orgs,
        groups,
        cells,
        dict.fromkeys(cells, 0),
        dict.fromkeys(cells, 1.0),
        dict.fromkeys(orgs, policy),
        ["2026-09"],
    )


# Found by Hypothesis: R00's two small groups are suppressed, so R00's total is, and R01's
# total with it; but R01 has one staff group, which the system row of that group publishes
# exactly, so R01's total - and then R00's, from the system total - came back.
ONE_GROUP_ORG = _system(
    {("R00", "MIDWIVES"): 1, ("R00", "HCHS_DOCTORS"): 1, ("R01", "NURSES_HV"): 8},
    ["NURSES_HV", "MIDWIVES", "HCHS_DOCTORS"],
    Policy(7, 5),
)


@FAST
@given(small_systems())
@example(ONE_GROUP_ORG)
def test_workforce_in_post_cells_obey_the_rule_and_resist_subtraction(system):
    spec = spec_of("pub_workforce_in_post")
    original = workforce_in_post(system)
    resolve = _resolver(system[5])
    published = protect(original, spec, resolve)
    assert primary_rule_violations(original, published, spec, resolve) == []
    assert recovered_cells(published, spec, resolve) == []


@FAST
@given(small_systems(), st.data())
def test_a_withheld_organisation_s_cells_cannot_be_recovered_from_the_system_rows(system, data):
    """Rows about an organisation whose agreement does not permit the output are withheld, but
    the system rows count it: protected as suppressed cells, none of them comes back."""
    withheld_orgs = data.draw(st.sets(st.sampled_from(system[0]), min_size=1))
    spec = spec_of("pub_workforce_in_post")
    original = workforce_in_post(system)
    resolve = _resolver(system[5])
    withheld = original["org_code"].isin(withheld_orgs).to_numpy()
    published = protect(original, spec, resolve, withheld=withheld)
    assert published.loc[withheld, SUPPRESSED_COLUMN].eq("headcount,role_count,fte").all()
    assert primary_rule_violations(original, published, spec, resolve) == []
    assert recovered_cells(published, spec, resolve) == []


def test_the_publication_withholds_an_organisation_without_leaving_it_in_a_system_row():
    """Only ZZ999 (not in the registry, so no agreement permits the output about it) employs
    midwives: the system's midwives are then ZZ999's, and are suppressed with its rows."""
    gov = load_governance(PROJECT_ROOT / "governance")
    [model] = [m for m in published_models() if m.name == "workforce_in_post"]
    frame = workforce_in_post(
        _system(
            {("RW1", "NURSES_HV"): 40, ("RW1", "HCHS_DOCTORS"): 30, ("ZZ999", "MIDWIVES"): 12},
            ["NURSES_HV", "MIDWIVES", "HCHS_DOCTORS"],
            Policy(7, 5),
        )
    )
    visible, published = control(frame, model, gov)
    assert "ZZ999" not in set(visible["org_code"]) and len(visible) == len(published)
    cells = dict(
        zip(
            zip(published["org_code"], published["dimension_value"], strict=True),
            published["headcount"],
            strict=True,
        )
    )
    assert pd.isna(cells[("SYSTEM", "MIDWIVES")])
    # The system total less RW1's total would be ZZ999's: RW1's total goes, and with it one
    # of its groups (and that group's system row, which would equal it).
    assert pd.isna(cells[("RW1", "ALL")]) and cells[("SYSTEM", "ALL")] == 82
    assert pd.isna(cells[("RW1", "HCHS_DOCTORS")]) and pd.isna(cells[("SYSTEM", "HCHS_DOCTORS")])
    assert cells[("RW1", "NURSES_HV")] == 40 and cells[("SYSTEM", "NURSES_HV")] == 40


@FAST
@given(small_systems(), st.sets(st.sampled_from([f"R{i:02d}" for i in range(5)])))
def test_turnover_cells_obey_the_rule_and_resist_subtraction(system, social_care):
    spec = spec_of("pub_turnover")
    original = turnover(system, frozenset(social_care))
    if original.empty:
        return
    resolve = _resolver(system[5])
    published = protect(original, spec, resolve)
    assert primary_rule_violations(original, published, spec, resolve) == []
    assert recovered_cells(published, spec, resolve) == []


def test_a_count_hidden_in_one_method_s_row_is_hidden_in_its_copy():
    """A social care organisation's turnover counts are published once per rate method. The
    NHS-method rows add up to the all-organisations total, so a second cell is hidden there
    to protect a small one; its Skills for Care copy published it, and total minus copy gave
    the small cell back (found in the demo's publication: CARE_WORKERS leavers, 2026-10)."""
    system = (
        ["R00", "R01"],
        ["STT"],
        {("R00", "STT"): 40, ("R01", "STT"): 30},
        {("R00", "STT"): 1, ("R01", "STT"): 0},  # R00: 3 leavers, 1 joiner; R01: none
        {},
        {},
        ["2026-10"],
    )
    spec = spec_of("pub_turnover")
    original = turnover(system, frozenset({"R01"}))
    resolve = _resolver({})
    published = protect(original, spec, resolve)
    hidden = {
        (r.org_code, r.method): set(filter(None, r.suppressed.split(",")))
        for r in published.itertuples()
        if r.level == "organisation"
    }
    # R00's 3 leavers are hidden; to protect them, so is the all-organisations total (R01's
    # leavers are an exact 0, so the total would be R00's); before that rule, R01's 0 was
    # hidden, in both of its rows. Either way the copies agree.
    assert "leavers" in hidden[("R00", "nhs_average_headcount")]
    totals = published[(published.level == "all_organisations") & (published.staff_group == "STT")]
    assert totals["suppressed"].str.contains("leavers").all() or (
        "leavers" in hidden[("R01", "nhs_average_headcount")]
    )
    nhs = hidden[("R01", "nhs_average_headcount")]
    assert nhs == hidden[("R01", "skills_for_care_current_staff")]
    assert recovered_cells(published, spec, resolve) == []
    # Without the copies rule this fixture once leaked (total minus the Skills for Care copy);
    # the exact-total rule now hides the total here as well, so the copies are checked by the
    # equality above.


def _values(series) -> list:
    return [None if pd.isna(v) else v for v in series.tolist()]


def test_the_nhs_digital_rule_on_known_cells():
    spec = TableSpec(exempt_when={"level": ("system",)}, counts=("n",), rates={"r": ("n", "d")})
    frame = pd.DataFrame(
        {
            "level": ["organisation"] * 6 + ["system"],
            "org_code": ["A", "B", "C", "D", "E", "F", "SYSTEM"],
            "n": [0, 1, 7, 8, 12, 13, 3],
            "d": [100, 100, 100, 100, 100, 5, 3],
            "r": [0.0, 0.01, 0.07, 0.08, 0.12, 2.6, 1.0],
        }
    )
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    assert _values(out["n"]) == [0, None, None, 10, 10, 15, 3]  # system level exact
    assert _values(out["r"]) == [0.0, None, None, 0.08, 0.12, None, 1.0]
    assert out[SUPPRESSED_COLUMN].tolist() == ["", "n,r", "n,r", "", "", "r", ""]


def test_rounding_is_half_away_from_zero():
    assert [round_to_base(v, 5) for v in (7.4, 7.5, 12.4, 12.5, 8)] == [5, 10, 10, 15, 10]


def test_decimals_are_rounded_half_away_from_zero_like_the_counts():
    # numpy and pandas round a tie to the even digit: 0.0625 -> 0.062. A planner rounding
    # 1 / 16 by hand or in a spreadsheet gets 0.063, as the review found in six demo rates.
    got = round_decimals([0.0625, 0.8125, 247 / 2000, 0.0624, -0.0625, 12.25, 0.0], 3)
    assert got.tolist() == [0.063, 0.813, 0.124, 0.062, -0.063, 12.25, 0.0]
    assert round_decimals([12.25, 12.35, float("nan")], 1)[:2].tolist() == [12.3, 12.4]
    assert pd.isna(round_decimals([float("nan")], 3)[0])


def test_published_rates_and_stated_decimals_round_ties_up():
    spec = TableSpec(
        exempt_when={"level": ("system",)},
        counts=("n",),
        rates={"r": ("n", "d")},
        unrestricted={"fte": 1, "posts": 0},
    )
    frame = pd.DataFrame(
        {
            "level": ["organisation", "system"],
            "org_code": ["A", "SYSTEM"],
            "n": [20, 20],
            "d": [320, 320],
            "r": [0.0625, 0.0625],
            "fte": [12.25, 12.25],
            "posts": [3, 3],
        }
    )
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    assert _values(out["r"]) == [0.063, 0.0625]  # the system row stays exact
    assert _values(out["fte"]) == [12.3, 12.3]
    assert out["posts"].tolist() == [3, 3]


def test_a_stricter_agreement_wins_for_a_row_about_two_organisations():
    spec = spec_of("pub_flows")
    frame = pd.DataFrame(
        {
            "period": ["2026-10"] * 2,
            "window_months": [12, 12],
            "from_org_code": ["A", "A"],
            "to_org_code": ["B", "C"],
            "staff_group": ["NURSES_HV"] * 2,
            "people": [9, 30],
        }
    )
    out = protect(frame, spec, _resolver({"B": Policy(10, 10)}))
    # 9 is small under B's agreement (1-10); the only other flow out of A is then suppressed
    # too, or A's leavers staying in the system would give the 9 away.
    assert _values(out["people"]) == [None, None]
    assert out[SUPPRESSED_COLUMN].tolist() == ["people", "people"]
    loose = protect(frame, spec, _resolver({}))
    assert _values(loose["people"]) == [10, 30]


def test_each_row_gets_the_policy_of_its_own_pair_of_organisations_asked_once_a_pair():
    """Rows' policies come from distinct (from, to) pairs worked out once each: (A, B) and
    (B, A) are different pairs, and the system's rows ask for none."""
    spec = TableSpec(
        org_columns=("from_org_code", "to_org_code"),
        exempt_when={"level": ("system",)},
        counts=("people",),
    )
    frame = pd.DataFrame(
        {
            "level": ["organisation"] * 5 + ["system"],
            "from_org_code": ["A", "B", "A", "B", "C", "SYSTEM"],
            "to_org_code": ["B", "A", "B", "C", "A", "SYSTEM"],
            "people": [9, 9, 12, 9, 9, 48],
        }
    )
    asked = []
    strict = {("B", "A"): Policy(10, 10), ("C", "A"): Policy(3, 1)}

    def policy_for(pair):
        asked.append(pair)
        return strict.get(pair, Policy(7, 5))

    out = protect(frame, spec, policy_for)
    assert sorted(asked) == [("A", "B"), ("B", "A"), ("B", "C"), ("C", "A")]
    # A->B: 9 > 7, rounded to 10; B->A: 9 <= 10, suppressed; B->C: 9 rounded to 10 (base
    # 5); C->A: 9 > 3, exact under a base of 1; the system row is exact.
    assert _values(out["people"]) == [10, None, 10, 10, 9, 48]
    assert out[SUPPRESSED_COLUMN].tolist() == ["", "people", "", "", "", ""]


def test_the_suppressed_column_names_a_row_s_hidden_measures_in_the_spec_s_order():
    spec = TableSpec(exempt_when={"level": ("system",)}, counts=("a", "b", "c"))
    frame = pd.DataFrame(
        {
            "level": ["organisation"] * 4,
            "org_code": ["X", "X", "Y", "Y"],
            "c": [2, 20, 2, 20],
            "b": [2, 20, 20, 2],
            "a": [20, 20, 2, 2],
        }
    )
    out = protect(frame, spec, _resolver({}))
    assert out[SUPPRESSED_COLUMN].tolist() == ["b,c", "", "a,c", "a,b"]


def test_a_pair_s_flow_for_all_staff_groups_is_published_and_protects_its_groups():
    """A pair's movers in one staff group are nearly always 1..k: with only staff-group rows
    planners got no flows at all (every demo cell suppressed). The ALL row gives the pair's
    total, and the staff-group rows under it cannot be worked out from it."""
    spec = spec_of("pub_flows")
    rows = [  # people moving from A, by organisation joined and staff group
        ("B", "NURSES_HV", 3),
        ("B", "AHP", 12),
        ("B", "ALL", 15),
        ("C", "NURSES_HV", 20),
        ("C", "AHP", 9),
        ("C", "ALL", 29),
        ("D", "NURSES_HV", 30),
        ("D", "AHP", 10),
        ("D", "ALL", 40),
    ]
    frame = pd.DataFrame(
        {
            "period": ["2026-10"] * len(rows),
            "window_months": [12] * len(rows),
            "from_org_code": ["A"] * len(rows),
            "to_org_code": [r[0] for r in rows],
            "staff_group": [r[1] for r in rows],
            "people": [r[2] for r in rows],
        }
    )
    policy = lambda orgs: Policy(7, 5)  # noqa: E731
    out = protect(frame, spec, policy)
    assert primary_rule_violations(frame, out, spec, policy) == []
    assert recovered_cells(out, spec, policy) == []
    published = dict(
        zip(zip(out.to_org_code, out.staff_group, strict=True), _values(out["people"]), strict=True)
    )
    assert published[("B", "NURSES_HV")] is None  # 3: small
    assert published[("B", "AHP")] is None  # or B's ALL less it would give the 3
    # and so on across the organisations joined (A's movers by staff group are in turnover)
    assert published[("C", "NURSES_HV")] is None and published[("C", "AHP")] is None
    assert [published[(to, "ALL")] for to in "BCD"] == [15, 30, 40]  # every pair's total


def _published_without_hidden_rows(frame, model, gov, count: str, at_least_hidden: int):
    """(visible, published) of a model whose spec leaves out suppressed rows, checked against
    the same spec without the option: every row is there then, the hidden ones marked (the
    count of them is the leak); with it, exactly the marked rows are gone, the rest as they
    were. `at_least_hidden`: how many rows the case must hide."""
    visible, published = control(frame, model, gov)
    assert len(visible) == len(published)
    assert published[count].notna().all() and (published[SUPPRESSED_COLUMN] == "").all()
    kept = dataclasses.replace(model, spec=replace(model.spec, omit_suppressed_rows=False))
    _, marked = control(frame, kept, gov)
    hidden = marked[count].isna()
    assert hidden.sum() >= at_least_hidden
    assert marked[~hidden].reset_index(drop=True).equals(published)
    return visible, published


def test_flows_leave_out_their_suppressed_rows_so_they_cannot_be_counted():
    """Found in review: a flows row exists only where someone moved, so a row published as
    suppressed still said "at least 1"; with the all-organisations leavers staying in the
    system published exactly (turnover), a month of 13 such people in 13 suppressed rows
    gave every row away as 1. Those rows are now left out: the planner sees the published
    flows only, and cannot tell which pairs and staff groups moved fewer than 8, nor count
    them. What is published is protected as before (the relations are applied first)."""
    gov = load_governance(PROJECT_ROOT / "governance")
    [model] = [m for m in published_models() if m.name == "flows"]
    assert model.spec.omit_suppressed_rows
    rows = [  # (from, to, staff group, people): RW1 -> RW2 is big, the rest are single moves
        ("RW1", "RW2", "NURSES_HV", 20),
        ("RW1", "RW2", "AHP", 12),
        ("RW1", "RW2", "ALL", 32),
        ("RW1", "RW3", "NURSES_HV", 1),
        ("RW1", "RW3", "ALL", 1),
        ("RW2", "RW3", "AHP", 1),
        ("RW2", "RW3", "ALL", 1),
        ("RW3", "RW1", "HCHS_DOCTORS", 1),
        ("RW3", "RW1", "ALL", 1),
    ]
    frame = pd.DataFrame(
        {
            "period": ["2026-10"] * len(rows),
            "window_months": [1] * len(rows),
            "from_org_code": [r[0] for r in rows],
            "to_org_code": [r[1] for r in rows],
            "staff_group": [r[2] for r in rows],
            "people": [r[3] for r in rows],
        }
    )
    visible, published = _published_without_hidden_rows(frame, model, gov, "people", 6)
    key = ["from_org_code", "to_org_code", "staff_group"]
    assert visible[key].equals(published[key])


def test_leaving_reasons_leave_out_their_suppressed_rows_so_they_cannot_be_counted():
    """Found in review: a leaving_reasons row exists only where someone left for that reason,
    so a row published as suppressed said "at least 1", and no row said none. With the
    all-organisations leavers of the month exact (turnover), counting an organisation's rows
    pinned its hidden leavers to within 1 (9 cells of the demo), to 0 where it had no row
    (4), and 45 reason cells to 1..3. Rows whose leavers are hidden are now left out."""
    gov = load_governance(PROJECT_ROOT / "governance")
    [model] = [m for m in published_models() if m.name == "leaving_reasons"]
    assert model.spec.omit_suppressed_rows
    rows = [
        ("RW1", "RESIGNATION_WLB", 2),
        ("RW1", "RETIREMENT_AGE", 30),
        ("RW1", "END_OF_FIXED_TERM", 12),
        ("RW2", "RESIGNATION_WLB", 1),
        ("RW2", "RETIREMENT_AGE", 25),
        ("RW3", "DISMISSAL", 1),
        ("RW3", "RETIREMENT_AGE", 40),
    ]
    frame = pd.DataFrame(rows, columns=["org_code", "leaving_reason", "leavers"])
    frame["level"] = "organisation"
    totals = frame.groupby("leaving_reason", as_index=False)["leavers"].sum()
    totals["level"], totals["org_code"] = "all_organisations", "ALL_ORGANISATIONS"
    frame = pd.concat([frame, totals[frame.columns]], ignore_index=True)
    frame["period"], frame["reason_category"], frame["reason_label"] = "2026-10", "c", "l"
    _, published = _published_without_hidden_rows(frame, model, gov, "leavers", 4)
    # Nobody can tell whether RW3 had a dismissal, nor count RW2's reasons.
    shown = published[published["level"] == "organisation"]
    assert "DISMISSAL" not in set(shown["leaving_reason"])
    # The reasons only one or two organisations had are hidden in the added-up rows too (a
    # total of one cell, or an exact small total over hidden ones), and so left out.
    assert published.loc[published["level"] == "all_organisations", "leaving_reason"].tolist() == [
        "RETIREMENT_AGE"
    ]


def test_a_total_made_of_one_suppressed_cell_is_suppressed_itself():
    spec = spec_of("pub_leaving_reasons")
    frame = pd.DataFrame(
        {
            "period": ["2026-10"] * 4,
            "level": ["organisation", "all_organisations"] * 2,
            "org_code": ["A", "ALL_ORGANISATIONS"] * 2,
            "leaving_reason": ["RETIREMENT_AGE", "RETIREMENT_AGE", "DISMISSAL", "DISMISSAL"],
            "reason_category": ["retirement", "retirement", "dismissal", "dismissal"],
            "reason_label": ["Retirement Age"] * 2 + ["Dismissal"] * 2,
            "leavers": [3, 3, 20, 20],
        }
    )
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    # Only organisation A had retirements: the added-up total is A's 3, so it goes too. And
    # A's dismissals with it (A's leavers of the month, in turnover, less them would be the
    # 3), and their added-up total, which is A's alone as well.
    assert _values(out["leavers"]) == [None, None, None, None]
    assert out[SUPPRESSED_COLUMN].tolist() == ["leavers"] * 4
    assert recovered_cells(out, spec, lambda orgs: Policy(7, 5)) == []


def test_a_suppressed_total_is_not_left_equal_to_its_one_published_member():
    spec = spec_of("pub_workforce_in_post")
    original = workforce_in_post(ONE_GROUP_ORG)
    out = protect(original, spec, lambda orgs: Policy(7, 5))
    hidden = dict(
        zip(
            zip(out["org_code"], out["dimension_value"], strict=True),
            out[SUPPRESSED_COLUMN] != "",
            strict=True,
        )
    )
    # R01's total is suppressed (R00's is small, and the system total would give it away),
    # so R01's only group is too, and then that group's system row, which equals it.
    assert hidden[("R01", "ALL")]
    assert hidden[("R01", "NURSES_HV")]
    assert hidden[("SYSTEM", "NURSES_HV")]
    assert not hidden[("SYSTEM", "ALL")]
    assert recovered_cells(out, spec, lambda orgs: Policy(7, 5)) == []


def test_a_completeness_share_of_a_small_organisation_is_suppressed():
    spec = spec_of("pub_data_quality")
    frame = pd.DataFrame(
        {
            "period": ["2026-10"] * 3,
            "org_code": ["SMALL", "LARGE", "LARGE"],
            "check_name": ["completeness_disability"] * 2 + ["missing_submissions"],
            "share_complete": [0.6, 0.9126, None],
            "assignments": [5, 412, None],
            "complete_assignments": [3, 376, None],
            "affected_count": [None, None, None],
            "missing_submissions": [None, None, 1.0],
            "details": [None, None, "vacancies"],
            "status": ["warning", "warning", "warning"],
        }
    )
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    # 3 of 5 assignments recorded: the share would say so. 412 -> 410, and the share is
    # worked out from the rounded counts: 375 / 410.
    assert _values(out["share_complete"]) == [None, 0.915, None]
    assert _values(out["assignments"]) == [None, 410, None]
    assert out[SUPPRESSED_COLUMN].tolist()[0] == "assignments,share_complete"
    assert _values(out["missing_submissions"]) == [None, None, 1.0]


def test_a_completeness_share_tells_nothing_its_rounded_counts_do_not():
    """A share to three decimals beside assignments rounded to 5 gave the exact counts back,
    as turnover's rates did (found in review): 488 of 494 and 492 of 496 both publish 495
    assignments, but their shares were 0.988 and 0.992. Both now publish 490 / 495."""
    spec = spec_of("pub_data_quality")
    shares = []
    for complete, assignments in ((488, 494), (492, 496)):
        frame = pd.DataFrame(
            {
                "period": ["2026-10"],
                "org_code": ["RW1"],
                "check_name": ["completeness_ethnic_origin"],
                "share_complete": [complete / assignments],
                "assignments": [assignments],
                "complete_assignments": [complete],
                "affected_count": [None],
                "missing_submissions": [None],
                "details": [None],
                "status": ["ok"],
            }
        )
        out = protect(frame, spec, lambda orgs: Policy(7, 5))
        assert _values(out["assignments"]) == [495]
        shares.append(_values(out["share_complete"])[0])
    assert round(488 / 494, 3) != round(492 / 496, 3)
    assert shares == [round(490 / 495, 3)] * 2


def test_a_suppressed_sickness_reason_is_not_one_minus_the_other_shares():
    """An organisation's reasons add up to 100% of its days lost (and to its days lost,
    published in sickness_absence): one suppressed reason would be 1 - the others."""
    spec = spec_of("pub_sickness_reasons")
    reasons = {"S10": (27, 76.46), "S13": (82, 200.7), "S17": (2, 33.68), "S99": (19, 101.7)}
    rows = []
    for org, extra in (("RW2", 0), ("RW3", 20)):
        days = {code: d + 2.5 * extra for code, (_, d) in reasons.items()}
        for code, (people, _) in reasons.items():
            share = days[code] / sum(days.values())
            rows.append(
                ("2024-12", "organisation", org, code, code, people + extra, days[code], share)
            )
    frame = pd.DataFrame(
        rows,
        columns="period level org_code sickness_reason reason_label people fte_days_lost"
        " share_of_days_lost".split(),
    )
    system = frame.groupby(["period", "sickness_reason", "reason_label"], as_index=False)[
        ["people", "fte_days_lost"]
    ].sum()
    system["level"], system["org_code"] = "system", "SYSTEM"
    system["share_of_days_lost"] = system["fte_days_lost"] / system["fte_days_lost"].sum()
    frame = pd.concat([frame, system[frame.columns]], ignore_index=True)
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    for org in ("RW2", "RW3"):
        mine = out[out["org_code"] == org].set_index("sickness_reason")
        # S17 (2 people) is suppressed, and so is a second reason's days and share (S10, the
        # smallest): neither 1 - sum(shares) nor the total days minus the others gives S17.
        assert mine["share_of_days_lost"].isna().sum() == 2, org
        assert mine["fte_days_lost"].isna().sum() == 2, org
        assert mine["share_of_days_lost"].isna()["S17"], org
    assert out[out["level"] == "system"]["share_of_days_lost"].notna().all()
    assert recovered_cells(out, spec, lambda orgs: Policy(7, 5)) == []


def _profile(breakdowns: dict, parent_of: dict) -> pd.DataFrame:
    """An organisation's profile rows (pub_age_profile / pub_equality shape), shares to three
    decimals of its headcount, each row with the parent_value it adds up to."""
    rows = []
    for dimension, counts in breakdowns.items():
        total = sum(counts.values())
        for value, n in counts.items():
            parent = value if dimension in parent_of.values() else parent_of.get(value)
            rows.append(("2026-10", "organisation", "A", dimension, value, parent, n, n / total))
    return pd.DataFrame(
        rows,
        columns="period level org_code dimension dimension_value parent_value headcount"
        " share_of_headcount".split(),
    )


def test_a_suppressed_age_band_is_not_the_aged_55_share_minus_the_other_bands():
    """55-59, 60-64, 65-69 and 70+ add up to aged_55_and_over Y: with 3-decimal shares, one
    suppressed band of the group would be Y's share minus the other's, times the headcount."""
    spec = spec_of("pub_age_profile")
    bands = {"20-24": 9, "30-34": 40, "45-49": 30, "55-59": 20, "65-69": 3}
    parent = {b: ("Y" if b >= "55" else "N") for b in bands} | {"Y": "aged_55_and_over"}
    frame = _profile({"age_band": bands, "aged_55_and_over": {"Y": 23, "N": 79}}, parent)
    out = protect(frame, spec, lambda orgs: Policy(7, 5)).set_index(
        ["dimension", "dimension_value"]
    )
    hidden = out["share_of_headcount"].isna()
    assert hidden[("age_band", "65-69")]  # 3 people
    # The other band of its group goes too (so Y's share minus 55-59 is not 65-69's), and
    # that is the second suppressed cell of the whole breakdown too.
    assert hidden[("age_band", "55-59")]
    assert hidden.loc["age_band"].sum() == 2
    assert not hidden.loc["aged_55_and_over"].any()
    assert recovered_cells(out.reset_index(), spec, lambda orgs: Policy(7, 5)) == []


def test_a_suppressed_ethnic_category_is_not_its_wres_group_minus_the_others():
    spec = spec_of("pub_equality")
    categories = {"A": 60, "C": 12, "H": 25, "N": 4, "Z": 9}
    wres = {"A": "WHITE", "C": "WHITE", "H": "BME", "N": "BME", "Z": "NOT_STATED"}
    parent = wres | {"WHITE": "wres_group"}
    frame = _profile(
        {
            "ethnic_category": categories,
            "wres_group": {"WHITE": 72, "BME": 29, "NOT_STATED": 9},
            "gender": {"F": 80, "M": 30},
        },
        parent,
    )
    frame.loc[frame["dimension"] == "gender", "parent_value"] = None
    out = protect(frame, spec, lambda orgs: Policy(7, 5)).set_index(
        ["dimension", "dimension_value"]
    )
    hidden = out["share_of_headcount"].isna()
    assert hidden[("ethnic_category", "N")]  # 4 people
    # H, the only other BME category, goes too: BME minus H would be N.
    assert hidden[("ethnic_category", "H")]
    assert not hidden.loc["wres_group"].any() and not hidden.loc["gender"].any()
    assert recovered_cells(out.reset_index(), spec, lambda orgs: Policy(7, 5)) == []


def test_a_suppressed_wres_indicator_cell_is_not_its_group_minus_the_other_bands():
    """Across the pay bands, an organisation's WRES group adds up to the group's headcount,
    published in equality: one suppressed band of a group would be that minus the others."""
    spec = spec_of("pub_wres_indicator_1")
    cells = {("AFC_5", "WHITE"): 40, ("AFC_5", "BME"): 20, ("AFC_6", "WHITE"): 30}
    cells |= {("AFC_6", "BME"): 15, ("AFC_7", "WHITE"): 3, ("AFC_7", "BME"): 12}
    band = {b: sum(n for (b2, _), n in cells.items() if b2 == b) for b, _ in cells}
    frame = pd.DataFrame(
        [("2026-10", "organisation", "A", b, g, n, n / band[b]) for (b, g), n in cells.items()],
        columns="period level org_code band_group wres_group headcount share_of_band".split(),
    )
    out = protect(frame, spec, lambda orgs: Policy(7, 5))
    hidden = out.assign(h=out["headcount"].isna())
    assert hidden.set_index(["band_group", "wres_group"])["h"][("AFC_7", "WHITE")]  # 3 people
    # No band and no WRES group with exactly one suppressed cell.
    assert set(hidden.groupby("band_group")["h"].sum()) <= {0, 2}
    assert set(hidden.groupby("wres_group")["h"].sum()) == {2}


@pytest.mark.parametrize("model", sorted(p.stem for p in PUBLISHED.glob("pub_*.yml")))
def test_every_published_model_declares_its_disclosure_rules(model):
    data = yaml.safe_load((PUBLISHED / f"{model}.yml").read_text())
    [node] = data["models"]
    meta = node["meta"]
    spec = TableSpec.from_meta(meta["disclosure"])
    columns = {c["name"] for c in node["columns"]}
    assert meta["output"]
    declared = set(spec.measures) | set(spec.unrestricted)
    assert declared <= columns
    for add in spec.additive:
        # Shares add up too (to 100%), but only within their own level: no published total row.
        addable = spec.counts + spec.magnitudes + (() if add.total_where else tuple(spec.rates))
        assert set(add.measures) <= set(addable)
        assert set(add.group_by) | {add.across} <= columns


def stability_of(turnover_frame: pd.DataFrame) -> pd.DataFrame:
    """The pub_stability rows of the same people as a pub_turnover frame's 12-month rows:
    stayers = start - leavers; stayers in the system add those who stayed in it."""
    t = turnover_frame[turnover_frame["window_months"] == 12]
    out = pd.DataFrame(
        {
            "period": t["period"],
            "level": t["level"],
            "org_code": t["org_code"],
            "staff_group": t["staff_group"],
            "headcount_start": t["headcount_start"],
            "stayers": t["headcount_start"] - t["leavers"],
            "stayers_in_system": t["headcount_start"]
            - t["leavers"]
            + t["leavers_staying_in_system"],
        }
    )
    out["stability_index"] = out["stayers"] / out["headcount_start"]
    out["system_stability_index"] = out["stayers_in_system"] / out["headcount_start"]
    return out.reset_index(drop=True)


def _hidden(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[SUPPRESSED_COLUMN].str.split(",").map(lambda s: column in s)


def test_the_stability_index_does_not_give_back_leavers_that_turnover_suppressed():
    """Found in review: 30 in post at the start, 2 leavers (suppressed in turnover), stability
    0.935 of a published 30 - only 2 leavers fit. The index is hidden where turnover hides the
    leavers it would reveal."""
    system = _system({("A", "MIDWIVES"): 31, ("B", "MIDWIVES"): 40}, ["MIDWIVES"], Policy(7, 5))
    t = turnover(system)
    t.loc[t["org_code"] == "A", ["leavers", "leavers_staying_in_system"]] = [2, 0]
    t.loc[t["org_code"] == "B", ["leavers", "leavers_staying_in_system"]] = [10, 3]
    s = stability_of(t)
    resolve = _resolver({})
    protected_turnover = protect(t, spec_of("pub_turnover"), resolve)
    alone = protect(s, replace(spec_of("pub_stability"), follows=()), resolve)
    followed = protect(
        s, spec_of("pub_stability"), resolve, followed={"turnover": protected_turnover}
    )
    a = (t["org_code"] == "A").to_numpy()
    assert _hidden(protected_turnover, "leavers")[a].all()
    a_s = (s["org_code"] == "A").to_numpy()
    # What leaked when the index was published from the exact figures (29 / 31 = 0.935):
    # now it is worked out from the rounded cells (30 / 30), and hidden besides.
    assert s.loc[a_s, "stability_index"].round(3).eq(0.935).all()
    assert alone.loc[a_s, "stability_index"].eq(1.0).all()
    assert followed.loc[a_s, "stability_index"].isna().all()
    assert _hidden(followed, "stability_index")[a_s].all()
    # B's 10 leavers are turnover's secondary suppression (with them, A's 2 would follow from
    # the all-organisations total): B's index goes too. The all-organisations row stays.
    b_s = (s["org_code"] == "B").to_numpy()
    assert _hidden(protected_turnover, "leavers")[(t["org_code"] == "B").to_numpy()].all()
    assert alone.loc[b_s, "stability_index"].round(3).eq(0.75).all()
    assert followed.loc[b_s, ["stability_index", "system_stability_index"]].isna().all().all()
    # The all-organisations row: its joiners are an exact 0 over A's and B's joiners, hidden
    # with their leavers (this made-up month has no joiners), which would give both back as
    # 0; so they are hidden, and with them its leavers (end = start - leavers + joiners),
    # which the index would reveal: the index follows.
    total = (s["level"] == "all_organisations").to_numpy()
    total_t = (t["level"] == "all_organisations").to_numpy()
    assert _hidden(protected_turnover, "joiners")[total_t].all()
    assert _hidden(protected_turnover, "leavers")[total_t].all()
    assert followed.loc[total, "stability_index"].isna().all()


def test_a_spec_that_follows_a_table_not_yet_protected_is_an_error():
    s = stability_of(turnover(_system({("A", "MIDWIVES"): 31}, ["MIDWIVES"], Policy(7, 5))))
    with pytest.raises(ValueError, match="follows table 'turnover'"):
        protect(s, spec_of("pub_stability"), _resolver({}))
    specs = {m.name: m.spec for m in published_models()}
    order = protection_order(specs)
    assert order.index("turnover") < order.index("stability")


@FAST
@given(small_systems())
def test_no_stability_index_is_published_where_turnover_hides_what_it_would_reveal(system):
    t = turnover(system)
    if t.empty:
        return
    resolve = _resolver(system[5])
    s = stability_of(t)
    pt = protect(t, spec_of("pub_turnover"), resolve)
    ps = protect(s, spec_of("pub_stability"), resolve, followed={"turnover": pt})
    key = ["period", "level", "org_code", "staff_group"]
    hidden_t = pt[key].assign(
        leavers=_hidden(pt, "leavers"), staying=_hidden(pt, "leavers_staying_in_system")
    )
    joined = ps.merge(hidden_t, on=key, how="left", validate="one_to_one")
    shown = joined["stability_index"].notna()
    assert not (shown & joined["leavers"]).any()
    shown_system = joined["system_stability_index"].notna()
    assert not (shown_system & (joined["leavers"] | joined["staying"])).any()


def with_all_groups(t: pd.DataFrame) -> pd.DataFrame:
    """A turnover frame with each organisation's (and total's) ALL row: its groups added up."""
    keys = ["period", "window_months", "method", "level", "org_code"]
    counts = ["headcount_start", "headcount_end", "leavers", "joiners"]
    total = t.groupby(keys, as_index=False)[[*counts, "leavers_staying_in_system"]].sum()
    total["staff_group"] = "ALL"
    average = (total["headcount_start"] + total["headcount_end"]) / 2
    total["leaver_rate"] = total["leavers"] / average
    total["joiner_rate"] = total["joiners"] / average
    return pd.concat([t, total[t.columns]], ignore_index=True)


def test_stability_hides_the_start_headcounts_and_stayers_turnover_hides_as_second_cells():
    """Found in review: A's 5 midwives are hidden in turnover, and its 15 STT staff with them
    as the second cell of A's staff groups (and B's 30 STT across the organisations).
    Stability published those starts (41 cells so in the demo), and its stayers (start -
    leavers, with the leavers shown) gave them back as well; with A's ALL row, A's midwives
    came back to within a few people. Both are now hidden where turnover hides the start."""
    system = _system(
        {
            ("A", "MIDWIVES"): 5,
            ("A", "STT"): 15,
            ("A", "NURSES_HV"): 100,
            ("B", "MIDWIVES"): 40,
            ("B", "STT"): 30,
            ("B", "NURSES_HV"): 80,
        },
        ["MIDWIVES", "STT", "NURSES_HV"],
        Policy(7, 5),
    )
    t = with_all_groups(turnover(system))
    resolve = _resolver({})
    pt = protect(t, spec_of("pub_turnover"), resolve)
    s = stability_of(t)
    ps = protect(s, spec_of("pub_stability"), resolve, followed={"turnover": pt})

    def row(frame, org, group):
        return ((frame["org_code"] == org) & (frame["staff_group"] == group)).to_numpy()

    second = row(pt, "A", "STT") | row(pt, "B", "STT")
    assert _hidden(pt, "headcount_start")[second].all()
    assert not _hidden(pt, "leavers")[second].any()
    for org, group in [("A", "MIDWIVES"), ("A", "STT"), ("B", "MIDWIVES"), ("B", "STT")]:
        assert ps.loc[row(ps, org, group), ["headcount_start", "stayers"]].isna().all().all()
    shown = row(ps, "A", "NURSES_HV") | row(ps, "A", "ALL")
    assert ps.loc[shown, "headcount_start"].notna().all()
    # Whatever turnover hides a start for (here, as if its relations had chosen A's nurses),
    # stability hides it, its stayers with it, and second cells beside them.
    marked = pt.copy()
    nurses = row(marked, "A", "NURSES_HV") & (marked["window_months"] == 12).to_numpy()
    marked.loc[nurses, SUPPRESSED_COLUMN] = marked.loc[nurses, SUPPRESSED_COLUMN].map(
        lambda text: ",".join(filter(None, [text, "headcount_start"]))
    )
    marked.loc[nurses, "headcount_start"] = float("nan")
    ps = protect(s, spec_of("pub_stability"), resolve, followed={"turnover": marked})
    assert ps.loc[row(ps, "A", "NURSES_HV"), ["headcount_start", "stayers"]].isna().all().all()
    assert ps.loc[row(ps, "B", "NURSES_HV"), ["headcount_start", "stayers"]].isna().all().all()
    # Stability's own relations, without turnover: A's staff groups add up to its ALL row, so
    # its small midwives' cells get a second cell hidden beside them there too.
    alone = protect(s, replace(spec_of("pub_stability"), follows=()), resolve)
    a_groups = row(alone, "A", "MIDWIVES") | row(alone, "A", "STT") | row(alone, "A", "NURSES_HV")
    assert _hidden(alone, "stayers")[a_groups].sum() >= 2


@FAST
@given(small_systems(), st.data())
def test_stability_hides_each_start_headcount_exactly_where_turnover_hides_it(system, data):
    """Found in review: stability's start headcount is turnover's 12-month start headcount,
    the same people. Stability published (rounded) 41 that turnover and workforce_in_post hid
    as second cells, which gave each back to within 2, and through it the small cell it
    protected. Each is now hidden in one table exactly where it is hidden in the other, and
    published with the same value where it is shown."""
    social = frozenset(data.draw(st.sets(st.sampled_from(system[0]))))
    t = turnover(system, social_care=social)
    if t.empty:
        return
    resolve = _resolver(system[5])
    s = stability_of(t[t["method"] == "nhs_average_headcount"])
    pt = protect(t, spec_of("pub_turnover"), resolve)
    ps = protect(s, spec_of("pub_stability"), resolve, followed={"turnover": pt})
    key = ["period", "level", "org_code", "staff_group"]
    in_turnover = (
        pt[pt["window_months"] == 12]
        .assign(hidden_t=_hidden(pt, "headcount_start"), shown_t=pt["headcount_start"])
        .groupby(key, as_index=False)
        .agg(hidden_t=("hidden_t", "any"), shown_t=("shown_t", "max"))
    )
    joined = ps.assign(hidden_s=_hidden(ps, "headcount_start")).merge(
        in_turnover, on=key, how="left", validate="one_to_one"
    )
    assert joined["hidden_t"].notna().all()
    assert (joined["hidden_s"] == joined["hidden_t"].astype(bool)).all()
    shown = ~joined["hidden_s"]
    assert (joined.loc[shown, "headcount_start"] == joined.loc[shown, "shown_t"]).all()


def sickness_absence(rows) -> pd.DataFrame:
    """A pub_sickness_absence-shaped table from (period, level, org_code, staff_group, people,
    people_absent, fte_days_lost, fte_days_available) rows, with the rate."""
    columns = ["period", "level", "org_code", "staff_group", "people", "people_absent"]
    frame = pd.DataFrame(rows, columns=[*columns, "fte_days_lost", "fte_days_available"])
    frame["sickness_rate"] = frame["fte_days_lost"] / frame["fte_days_available"]
    return frame


def in_post_hiding(*cells: tuple[str, str, str, str]) -> pd.DataFrame:
    """A protected workforce_in_post (what the vacancy rate and temporary share follow) whose
    staff-group FTE is hidden in the given (period, level, org, staff group) cells only."""
    return pd.DataFrame(
        [(p, lv, org, "staff_group", group, "headcount,fte") for p, lv, org, group in cells],
        columns=["period", "level", "org_code", "dimension", "dimension_value", SUPPRESSED_COLUMN],
    )


def protected_within_rules(frame, table: str, policies: dict, followed: dict | None = None):
    """`frame` protected with `table`'s real spec, after checking every primary rule held:
    (the protected frame, the spec, the policy resolver). `followed`: the protected tables
    the spec follows (for the vacancy rate and temporary share, by default a
    workforce_in_post that hides nothing, so a test sees its own table's rules alone)."""
    spec, resolve = spec_of(table), _resolver(policies)
    if followed is None and any(f.table == "workforce_in_post" for f in spec.follows):
        followed = {"workforce_in_post": in_post_hiding()}
    out = protect(frame, spec, resolve, followed=followed)
    assert primary_rule_violations(frame, out, spec, resolve) == []
    return out, spec, resolve


def test_a_sickness_rate_about_one_absent_person_is_suppressed():
    """Found in review: 10 senior managers, 1 of them absent, rate 0.022 - one named group's
    manager lost about 6 days. The days lost and the rate are about the people absent."""
    frame = sickness_absence(
        [
            ("2026-08", "organisation", "A", "SENIOR_MANAGERS", 10, 1, 6.0, 270.0),
            ("2026-08", "organisation", "B", "SENIOR_MANAGERS", 40, 12, 30.0, 1200.0),
            ("2026-08", "system", "SYSTEM", "SENIOR_MANAGERS", 50, 13, 36.0, 1470.0),
        ]
    )
    out, spec, resolve = protected_within_rules(frame, "pub_sickness_absence", {})
    a, b, system = out.iloc[0], out.iloc[1], out.iloc[2]
    assert pd.isna(a.sickness_rate) and pd.isna(a.fte_days_lost) and pd.isna(a.people_absent)
    assert a.people == 10 and a.fte_days_available == 270
    # B's days lost and people absent go too: the system row less B's would give A's back.
    assert pd.isna(b.fte_days_lost) and pd.isna(b.people_absent)
    assert recovered_cells(out, spec, resolve) == []
    assert system.sickness_rate == pytest.approx(36 / 1470)


def test_the_temporary_share_does_not_give_back_a_small_group_s_substantive_fte():
    """Found in review: bank and agency FTE are published to one decimal, so the share gives
    the substantive FTE back - of 4 nurses, under a 1-9 policy. It is a rate on the
    substantive people now, suppressed where they are 1..k (and with their secondary cells)."""
    columns = ["period", "level", "org_code", "staff_group", "bank_fte", "agency_fte"]
    columns += ["substantive_fte", "substantive_headcount"]
    rows = [
        ("2026-09", "organisation", "SC101", "NURSES_HV", 1.0, 0.0, 4.0, 4),
        ("2026-09", "organisation", "SC101", "ALL", 1.0, 0.0, 24.0, 30),
        ("2026-09", "organisation", "SC101", "CARE_WORKERS", 0.0, 0.0, 20.0, 26),
        ("2026-09", "organisation", "RW1", "NURSES_HV", 3.0, 1.0, 36.0, 40),
        ("2026-09", "organisation", "RW1", "ALL", 3.0, 1.0, 36.0, 40),
        ("2026-09", "system", "SYSTEM", "NURSES_HV", 4.0, 1.0, 40.0, 44),
        ("2026-09", "system", "SYSTEM", "CARE_WORKERS", 0.0, 0.0, 20.0, 26),
        ("2026-09", "system", "SYSTEM", "ALL", 4.0, 1.0, 60.0, 70),
    ]
    frame = pd.DataFrame(rows, columns=columns)
    temporary = frame["bank_fte"] + frame["agency_fte"]
    frame["temporary_share_of_fte"] = temporary / (temporary + frame["substantive_fte"])
    for m in ("bank_hours", "bank_shifts", "bank_spend_gbp", "agency_hours", "agency_shifts"):
        frame[m] = 0.0
    for m in ("agency_spend_gbp", "agency_shifts_above_price_cap"):
        frame[m] = 0.0
    frame["agency_spend_above_price_cap_gbp"] = 0.0
    out, spec, resolve = protected_within_rules(
        frame, "pub_temporary_staffing", {"SC101": Policy(9, 5)}
    )
    cell = out.set_index(["org_code", "staff_group"])
    assert pd.isna(cell.loc[("SC101", "NURSES_HV"), "temporary_share_of_fte"])
    assert pd.isna(cell.loc[("SC101", "NURSES_HV"), "substantive_headcount"])
    # The system's nurses less RW1's would give SC101's back: RW1's go too, share and all.
    assert pd.isna(cell.loc[("RW1", "NURSES_HV"), "substantive_headcount"])
    assert pd.isna(cell.loc[("RW1", "NURSES_HV"), "temporary_share_of_fte"])
    assert cell.loc[("SYSTEM", "ALL"), "temporary_share_of_fte"] == pytest.approx(5 / 65)
    assert recovered_cells(out, spec, resolve, at_least=frozenset({"substantive_headcount"})) == []


def vacancies(rows: list[tuple]) -> pd.DataFrame:
    """fct_vacancies rows: (period, level, org, staff group, establishment FTE, vacant FTE,
    substantive FTE, substantive headcount), with the vacancy rate worked out."""
    columns = ["period", "level", "org_code", "staff_group", "funded_establishment_fte"]
    columns += ["vacant_fte", "substantive_fte", "substantive_headcount"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["vacancy_rate"] = frame["vacant_fte"] / (frame["vacant_fte"] + frame["substantive_fte"])
    return frame


def test_the_vacancy_rate_does_not_give_back_a_small_group_s_substantive_fte():
    """Found in review: vacant FTE is published to one decimal and the vacancy rate to three,
    so vacant * (1 - rate) / rate is the substantive FTE in post - of 3 senior managers whose
    FTE (and headcount) workforce_in_post suppresses. In the demo, 604 of the 714 staff-group
    FTE cells suppressed there came back within half an FTE. The rate is a rate on the
    substantive people now, suppressed where they are 1..k (and with their secondary cells)."""
    frame = vacancies(
        [
            ("2026-09", "organisation", "RW2", "SENIOR_MANAGERS", 3.0, 0.4, 2.6, 3),
            ("2026-09", "organisation", "RW2", "NURSES_HV", 110.0, 10.0, 100.0, 120),
            ("2026-09", "organisation", "RW2", "ALL", 113.0, 10.4, 102.6, 123),
            ("2026-09", "organisation", "RW3", "SENIOR_MANAGERS", 12.0, 1.0, 11.0, 12),
            ("2026-09", "organisation", "RW3", "ALL", 12.0, 1.0, 11.0, 12),
            ("2026-09", "system", "SYSTEM", "SENIOR_MANAGERS", 15.0, 1.4, 13.6, 15),
            ("2026-09", "system", "SYSTEM", "NURSES_HV", 110.0, 10.0, 100.0, 120),
            ("2026-09", "system", "SYSTEM", "ALL", 125.0, 11.4, 113.6, 135),
        ]
    )
    out, spec, resolve = protected_within_rules(frame, "pub_vacancies", {})
    cell = out.set_index(["org_code", "staff_group"])
    assert pd.isna(cell.loc[("RW2", "SENIOR_MANAGERS"), "vacancy_rate"])
    assert pd.isna(cell.loc[("RW2", "SENIOR_MANAGERS"), "substantive_headcount"])
    # The system's senior managers less RW3's would give RW2's back: RW3's go too.
    assert pd.isna(cell.loc[("RW3", "SENIOR_MANAGERS"), "vacancy_rate"])
    # The vacant FTE stays published; the establishment, less it the 3 people's FTE, does
    # not (found in re-review: 652 of 714 suppressed staff-group FTE came back so), nor
    # where it would be the organisation's (or the system's) less the others.
    assert cell.loc[("RW2", "SENIOR_MANAGERS"), "vacant_fte"] == pytest.approx(0.4)
    assert pd.isna(cell.loc[("RW2", "SENIOR_MANAGERS"), "funded_establishment_fte"])
    assert pd.isna(cell.loc[("RW2", "NURSES_HV"), "funded_establishment_fte"])
    assert pd.isna(cell.loc[("RW3", "SENIOR_MANAGERS"), "funded_establishment_fte"])
    assert cell.loc[("SYSTEM", "ALL"), "funded_establishment_fte"] == pytest.approx(125.0)
    assert out["funded_establishment_fte"].dropna().map(lambda v: round(v, 1) == v).all()
    assert cell.loc[("SYSTEM", "ALL"), "vacancy_rate"] == pytest.approx(11.4 / 125)
    assert recovered_cells(out, spec, resolve, at_least=frozenset({"substantive_headcount"})) == []


def test_no_hidden_establishment_is_fixed_by_the_relations_taken_together():
    """Found in re-review: secondary suppression gave every hidden establishment a partner
    along each relation, yet chains through both directions (staff groups to the
    organisation's ALL row, organisations to the system's) fixed some (33 of 714 in the demo,
    within 0.3 FTE). Here RW1's nurses exist nowhere else, so the system's nurses are hidden
    with them, and RW1's ambulance staff are then its ALL less STT less the system's nurses -
    and RW2's, the system's ambulance staff less RW1's and RW3's. The audit hides one more
    cell beside each cell the relations fix, until none is."""
    rows = [
        ("2026-09", "organisation", "RW1", "AMBULANCE", 2.2, 0.4, 1.8, 2),
        ("2026-09", "organisation", "RW1", "NURSES_HV", 19.1, 1.1, 18.0, 20),
        ("2026-09", "organisation", "RW1", "STT", 37.2, 1.2, 36.0, 40),
        ("2026-09", "organisation", "RW1", "ALL", 58.5, 2.7, 55.8, 62),
        ("2026-09", "organisation", "RW2", "AMBULANCE", 4.0, 2.2, 1.8, 2),
        ("2026-09", "organisation", "RW2", "SENIOR_MANAGERS", 6.3, 1.8, 4.5, 5),
        ("2026-09", "organisation", "RW2", "ALL", 10.3, 4.0, 6.3, 7),
        ("2026-09", "organisation", "RW3", "AMBULANCE", 13.2, 2.4, 10.8, 12),
        ("2026-09", "organisation", "RW3", "SENIOR_MANAGERS", 19.8, 1.8, 18.0, 20),
        ("2026-09", "organisation", "RW3", "ALL", 33.0, 4.2, 28.8, 32),
        ("2026-09", "organisation", "RW4", "SENIOR_MANAGERS", 6.2, 1.7, 4.5, 5),
        ("2026-09", "organisation", "RW4", "STT", 20.7, 2.7, 18.0, 20),
        ("2026-09", "organisation", "RW4", "ALL", 26.9, 4.4, 22.5, 25),
        ("2026-09", "system", "SYSTEM", "AMBULANCE", 19.4, 5.0, 14.4, 16),
        ("2026-09", "system", "SYSTEM", "NURSES_HV", 19.1, 1.1, 18.0, 20),
        ("2026-09", "system", "SYSTEM", "STT", 57.9, 3.9, 54.0, 60),
        ("2026-09", "system", "SYSTEM", "SENIOR_MANAGERS", 32.3, 5.3, 27.0, 30),
        ("2026-09", "system", "SYSTEM", "ALL", 128.7, 15.3, 113.4, 126),
    ]
    frame = vacancies(rows)
    spec = spec_of("pub_vacancies")
    followed = {"workforce_in_post": in_post_hiding()}

    def fixed(out, spec):
        exempt = exempt_mask(out, spec).to_numpy()
        prepared = [(a, additive_groups(out, a, exempt)) for a in spec.additive]
        hidden = out["funded_establishment_fte"].isna().to_numpy()
        return determined_cells(prepared, "funded_establishment_fte", hidden)

    pairs_only = dataclasses.replace(spec, audit=())
    before = protect(frame, pairs_only, _resolver({}), followed=followed)
    assert fixed(before, spec) != []  # what the pairing alone left
    out, spec, resolve = protected_within_rules(frame, "pub_vacancies", {}, followed=followed)
    assert fixed(out, spec) == []
    assert (
        out["funded_establishment_fte"].isna().sum()
        > before["funded_establishment_fte"].isna().sum()
    )
    assert (out["vacancy_rate"].isna() >= out["funded_establishment_fte"].isna()).all()
    assert recovered_cells(out, spec, resolve, at_least=frozenset({"substantive_headcount"})) == []
    assert out["vacant_fte"].notna().all()  # the vacant FTE is never hidden


def test_the_vacancy_rate_is_hidden_where_workforce_in_post_hides_the_fte_to_protect_another():
    """RW3's 12 senior managers are not few, but workforce_in_post hides their FTE to protect
    another cell: the rate (with the vacant FTE, their substantive FTE) is hidden with it.
    Found in review: 14 of 154 such cells came back within half an FTE in the test system."""
    frame = vacancies(
        [
            ("2026-09", "organisation", "RW3", "SENIOR_MANAGERS", 12.0, 1.0, 11.0, 12),
            ("2026-09", "organisation", "RW3", "NURSES_HV", 110.0, 10.0, 100.0, 120),
            ("2026-09", "organisation", "RW3", "ALL", 122.0, 11.0, 111.0, 132),
            ("2026-09", "organisation", "RW4", "SENIOR_MANAGERS", 20.0, 2.0, 18.0, 19),
            ("2026-09", "organisation", "RW4", "ALL", 20.0, 2.0, 18.0, 19),
            ("2026-09", "system", "SYSTEM", "SENIOR_MANAGERS", 32.0, 3.0, 29.0, 31),
            ("2026-09", "system", "SYSTEM", "NURSES_HV", 110.0, 10.0, 100.0, 120),
            ("2026-09", "system", "SYSTEM", "ALL", 142.0, 13.0, 129.0, 151),
        ]
    )
    alone, *_ = protected_within_rules(frame, "pub_vacancies", {})
    assert alone["vacancy_rate"].notna().all()  # nothing small here
    hiding = {
        "workforce_in_post": in_post_hiding(("2026-09", "organisation", "RW3", "SENIOR_MANAGERS"))
    }
    out, spec, resolve = protected_within_rules(frame, "pub_vacancies", {}, followed=hiding)
    cell = out.set_index(["org_code", "staff_group"])
    assert pd.isna(cell.loc[("RW3", "SENIOR_MANAGERS"), "vacancy_rate"])
    assert "vacancy_rate" in cell.loc[("RW3", "SENIOR_MANAGERS"), SUPPRESSED_COLUMN]
    # The establishment goes with it (less the vacant FTE it is their FTE), with the second
    # cells that keep it from being a total less the others; the rate goes wherever the
    # establishment does (times the establishment it is the vacant FTE).
    assert pd.isna(cell.loc[("RW3", "SENIOR_MANAGERS"), "funded_establishment_fte"])
    assert (out["vacancy_rate"].isna() == out["funded_establishment_fte"].isna()).all()
    # So does the substantive headcount: with no bank or locum staff it is the headcount
    # workforce_in_post hides (found in review: 5 cells of the demo published so), and its
    # second cells with it. Before, it was published here as 10.
    assert pd.isna(cell.loc[("RW3", "SENIOR_MANAGERS"), "substantive_headcount"])
    assert "substantive_headcount" in cell.loc[("RW3", "SENIOR_MANAGERS"), SUPPRESSED_COLUMN]
    assert pd.isna(cell.loc[("RW4", "SENIOR_MANAGERS"), "substantive_headcount"])
    assert cell.loc[("SYSTEM", "ALL"), "substantive_headcount"] == 151
    assert recovered_cells(out, spec, resolve, at_least=frozenset({"substantive_headcount"})) == []


def test_a_suppressed_staff_group_s_days_lost_are_not_the_organisation_s_less_the_others():
    """Within an organisation the staff groups' days lost add up to its ALL row: one group
    hidden alone would be ALL less the others."""
    groups = [
        ("SENIOR_MANAGERS", 10, 1, 6.0, 270.0),
        ("NURSES_HV", 60, 20, 80.0, 1800.0),
        ("STT", 40, 12, 50.0, 1200.0),
        ("ALL", 110, 33, 136.0, 3270.0),
    ]
    levels = [("organisation", "A"), ("system", "SYSTEM")]
    frame = sickness_absence([("2026-08", *level, *g) for level in levels for g in groups])
    spec = spec_of("pub_sickness_absence")
    out = protect(frame, spec, _resolver({}))
    org = out[out["org_code"] == "A"].set_index("staff_group")
    assert pd.isna(org.loc["SENIOR_MANAGERS", "fte_days_lost"])
    assert org.loc[["NURSES_HV", "STT"], "fte_days_lost"].isna().sum() == 1
    people = frozenset({"people", "people_absent"})
    assert recovered_cells(out, spec, _resolver({}), at_least=people) == []


def test_a_suppressed_leaving_reason_is_not_the_month_s_leavers_less_the_other_reasons():
    """An organisation's leavers by reason add up to its leavers of the month, which turnover
    publishes: a reason hidden alone would be those less the others, so a second goes."""
    rows = [
        ("2026-10", "organisation", "A", "RESIGNATION_WLB", 3),
        ("2026-10", "organisation", "A", "RETIREMENT_AGE", 20),
        ("2026-10", "organisation", "A", "END_OF_FIXED_TERM", 15),
        ("2026-10", "organisation", "B", "RESIGNATION_WLB", 12),
        ("2026-10", "organisation", "B", "RETIREMENT_AGE", 25),
        ("2026-10", "organisation", "B", "END_OF_FIXED_TERM", 30),
    ]
    frame = pd.DataFrame(rows, columns=["period", "level", "org_code", "leaving_reason", "leavers"])
    totals = frame.groupby(["period", "leaving_reason"], as_index=False)["leavers"].sum()
    totals["level"], totals["org_code"] = "all_organisations", "ALL_ORGANISATIONS"
    frame = pd.concat([frame, totals[frame.columns]], ignore_index=True)
    frame["reason_category"], frame["reason_label"] = "category", "label"
    spec = spec_of("pub_leaving_reasons")
    out = protect(frame, spec, _resolver({}))
    a = out[out["org_code"] == "A"].set_index("leaving_reason")["leavers"]
    assert pd.isna(a["RESIGNATION_WLB"]) and a.isna().sum() >= 2
    for org in ("A", "B"):  # never one reason hidden alone in an organisation
        assert out[out["org_code"] == org]["leavers"].isna().sum() != 1
    assert recovered_cells(out, spec, _resolver({})) == []


def test_a_suppressed_staff_group_s_leavers_are_not_the_organisation_s_less_the_others():
    """Within an organisation the staff groups' turnover adds up (nearly) to its ALL row."""
    rows = [
        _turnover_row("2026-10", "organisation", "A", "MIDWIVES", 40, 40, 3, 3, 0),
        _turnover_row("2026-10", "organisation", "A", "NURSES_HV", 200, 205, 20, 25, 5),
        _turnover_row("2026-10", "organisation", "A", "STT", 100, 98, 12, 10, 2),
        _turnover_row("2026-10", "organisation", "A", "ALL", 340, 343, 35, 38, 7),
    ]
    frame = pd.DataFrame(rows, columns=turnover(_system({}, [], Policy(7, 5))).columns)
    out = protect(frame, spec_of("pub_turnover"), _resolver({}))
    groups = out[out["staff_group"] != "ALL"].set_index("staff_group")["leavers"]
    assert pd.isna(groups["MIDWIVES"]) and groups.isna().sum() == 2


def _staying_known_to_be_zero(out: pd.DataFrame) -> pd.DataFrame:
    """Rows whose hidden leavers staying in the system sit beside leavers shown as 0."""
    return out[_hidden(out, "leavers_staying_in_system") & out["leavers"].eq(0)]


def test_no_hidden_leavers_staying_in_the_system_sit_beside_leavers_shown_as_0():
    """Found in review: the leavers staying in the system are some of the row's leavers, so
    one hidden beside leavers published as 0 is 0 and protects nothing (3 cells of the demo,
    each the second cell of an organisation's 2 ambulance staff staying). A zero whose
    leavers are hidden is chosen instead, and where there is none the leavers go too."""
    columns = turnover(_system({}, [], Policy(7, 5))).columns
    rows = [
        _turnover_row("2026-10", "organisation", "A", "AMBULANCE", 194, 192, 2, 0, 2),
        _turnover_row("2026-10", "organisation", "A", "CENTRAL_FUNCTIONS", 53, 53, 0, 0, 0),
        _turnover_row("2026-10", "organisation", "A", "MANAGERS", 23, 25, 0, 2, 0),
        _turnover_row("2026-10", "organisation", "A", "ALL", 270, 272, 0, 2, 0),
    ]
    frame = pd.DataFrame(rows, columns=columns)
    spec = spec_of("pub_turnover")
    before = protect(frame, replace(spec, bounded_by={}), _resolver({}))
    assert _staying_known_to_be_zero(before)["staff_group"].tolist() == ["CENTRAL_FUNCTIONS"]
    out = protect(frame, spec, _resolver({}))
    assert _staying_known_to_be_zero(out).empty
    groups = out.set_index("staff_group")
    assert _hidden(out, "leavers_staying_in_system")[(out["staff_group"] == "MANAGERS")].all()
    assert groups.loc["CENTRAL_FUNCTIONS", SUPPRESSED_COLUMN] == ""
    # Without the managers, the only zero left is beside leavers shown as 0: they go too.
    alone = protect(frame[frame["staff_group"] != "MANAGERS"], spec, _resolver({}))
    assert _staying_known_to_be_zero(alone).empty
    central = alone[alone["staff_group"] == "CENTRAL_FUNCTIONS"]
    assert _hidden(central, "leavers_staying_in_system").all() and central["leavers"].isna().all()


def test_a_rate_worked_out_from_published_cells_gives_no_count_back():
    """Found in review: one published turnover row (start 25, end 35, joiners 10, joiner rate
    0.310 from the exact 9 / 29) allowed only start 25, end 33, joiners 9, so its suppressed
    leavers were 1. The rate is now that of the rounded cells: every start, end and joiners
    within their rounding fits it, and the leavers can be any of several values."""
    row = {
        "period": "2026-10",
        "window_months": 12,
        "level": "organisation",
        "org_code": "A",
        "staff_group": "MANAGERS",
        "method": "nhs_average_headcount",
        "headcount_start": 25,
        "headcount_end": 33,
        "leavers": 1,
        "joiners": 9,
        "leavers_staying_in_system": 0,
        "leaver_rate": 1 / 29,
        "joiner_rate": 9 / 29,
    }
    frame = pd.DataFrame([row])
    # (Without the row identity, which would hide the joiners beside the leavers.)
    spec = replace(spec_of("pub_turnover"), additive=(), row_identities=())
    published = protect(frame, spec, _resolver({})).iloc[0]
    assert published["joiner_rate"] == round(10 / 30, 3) != round(9 / 29, 3)
    assert pd.isna(published["leavers"]) and pd.isna(published["leaver_rate"])

    def around(cell: str) -> range:
        return range(int(published[cell]) - 2, int(published[cell]) + 3)

    fits = {  # leavers = start - end + joiners, for every cell value its rounding allows
        s - e + j
        for s in around("headcount_start")
        for e in around("headcount_end")
        for j in around("joiners")
        if s - e + j >= 1
    }
    assert len(fits) > 1 and 1 in fits
    with pytest.raises(ValueError, match="match no formula"):
        protect(frame.assign(method="another_method"), spec, _resolver({}))


def _reasons(counts: dict[str, int]) -> pd.DataFrame:
    """Leavers of one reason by organisation, and the system's exact total."""
    rows = [
        {
            "period": "2026-10",
            "reason": "END_FIXED_TERM",
            "level": "organisation",
            "org_code": o,
            "people": n,
        }
        for o, n in counts.items()
    ]
    rows.append(
        {
            "period": "2026-10",
            "reason": "END_FIXED_TERM",
            "level": "system",
            "org_code": "SYSTEM",
            "people": sum(counts.values()),
        }
    )
    return pd.DataFrame(rows)


REASONS_SPEC = TableSpec.from_meta(
    {
        "exempt_when": {"level": ["system"]},
        "counts": ["people"],
        "additive": [
            {"measures": ["people"], "group_by": ["period", "reason"], "across": "org_code",
             "total_where": {"level": "system"}}
        ],
    }
)  # fmt: skip


def test_an_exact_total_of_hidden_cells_and_zeros_is_hidden_when_small():
    """Found in review: ALL_ORGANISATIONS 2 over RW1 and U81003, both hidden, the rest 0:
    each hidden cell is at least 1, so each was 1 (395 cells of the demo pinned so). The
    exact total is hidden where the rest are zeros and the hidden cells add up to 1..k; where
    a published cell is rounded, its rounding keeps the hidden sum uncertain and the total
    stays."""
    out = protect(_reasons({"RW1": 1, "U81003": 1, "RW2": 0}), REASONS_SPEC, _resolver({}))
    assert out["people"].isna().tolist() == [True, True, False, True]
    assert out.loc[2, "people"] == 0
    kept = protect(_reasons({"RW1": 1, "U81003": 1, "RW2": 20}), REASONS_SPEC, _resolver({}))
    assert kept["people"].isna().tolist() == [True, True, False, False]
    assert kept.loc[3, "people"] == 22  # the system row stays exact


def test_an_exact_total_of_zero_does_not_give_back_the_zeros_hidden_with_their_rows():
    """Found in review: the system's people absent of a staff group was 0, published
    exactly, and every organisation's cell of it was 0 or hidden with its row (1 to 7
    people): so each hidden one was 0, and the rate on one person's absence with it. The
    exact total is now hidden where the hidden cells add up to 0 too."""
    spec = TableSpec.from_meta(
        {
            "exempt_when": {"level": ["system"]},
            "counts": ["headcount", "people_absent"],
            "cell_size": "headcount",
            "additive": [
                {
                    "measures": ["headcount", "people_absent"],
                    "group_by": ["staff_group"],
                    "across": "org_code",
                    "total_where": {"level": "system"},
                }
            ],
        }
    )
    frame = pd.DataFrame(
        {
            "level": ["organisation"] * 3 + ["system"],
            "org_code": ["A", "B", "C", "SYSTEM"],
            "staff_group": ["OTHER"] * 4,
            "headcount": [1, 2, 30, 33],
            "people_absent": [0, 0, 0, 0],
        }
    )
    out = protect(frame, spec, _resolver({}))
    absent = out["people_absent"].isna().tolist()
    assert absent[:2] == [True, True] and out.loc[2, "people_absent"] == 0
    assert absent[3], "the system's exact 0 would give A's and B's hidden cells back as 0"
    # A system total that is not 0 over the hidden cells stays exact, as before.
    frame.loc[2, "people_absent"], frame.loc[3, "people_absent"] = 12, 12
    kept = protect(frame, spec, _resolver({}))
    assert kept.loc[3, "people_absent"] == 12


def test_a_cell_tied_to_others_of_its_row_is_not_hidden_alone():
    """Found in review: turnover's all-organisations rows are exact, and end = start -
    leavers + joiners: leavers hidden alone came back from the other three (44 cells of the
    demo). With a row identity declared, a second cell of it is hidden too."""
    spec = TableSpec.from_meta(
        {
            "counts": ["headcount_start", "headcount_end", "leavers", "joiners"],
            "row_identities": [["headcount_start", "headcount_end", "leavers", "joiners"]],
        }
    )
    frame = pd.DataFrame(
        [{"org_code": "A", "headcount_start": 100, "headcount_end": 117, "leavers": 3, "joiners": 20}]
    )  # fmt: skip
    out = protect(frame, spec, _resolver({}))
    assert out.loc[0, SUPPRESSED_COLUMN] == "leavers,joiners"
    alone = protect(frame, replace(spec, row_identities=()), _resolver({}))
    assert alone.loc[0, SUPPRESSED_COLUMN] == "leavers"


def test_the_report_and_the_headline_round_as_the_tables_do():
    from pipelines.publish.publication import _report_figure
    from pipelines.transform.headline import _pct

    # Python's format rounds a binary-exact tie to even: f"{6.25:.1f}" is "6.2".
    assert _report_figure(0.0625, "percent") == "6.3%"
    assert _report_figure(4016.25, "fte") == "4,016.3"
    assert _report_figure(2.5, "count") == "3"
    assert _pct(0.0625, "n/a") == "6.3%" and _pct(None, "n/a") == "n/a"
