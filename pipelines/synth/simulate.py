"""Simulate the people of a health and care system, month by month.

People, not rows: every person has a stable identity (NI number, date of birth, gender,
ethnicity) and holds assignments at organisations. Each month some people leave their
organisation (older people mostly retire), some of those move to another organisation of the
same system, some come back later, some change staff group through an internal step, and
organisations hire to stay on their growth path. A few people hold two assignments, at one
organisation or at two. The census at the end of each month is what the staff-in-post
extract shows.

Everything is vectorised over people or assignments with numpy; the only Python loops are
over months, organisations and code lists. All randomness comes from one generator seeded
from the configuration, drawn in a fixed order, so a seed gives the same system every time.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from pipelines.standard import Standard
from pipelines.synth import identities
from pipelines.synth import params as P

OPEN_END = np.int64(2**40)  # end date of an assignment that has not ended
EPOCH = dt.date(1970, 1, 1)

# How an assignment ended.
ACTIVE, ORG_LEAVE, MOVE, GROUP_CHANGE = 0, 1, 2, 3
END_KIND_NAMES = {
    ACTIVE: "active",
    ORG_LEAVE: "left_system",
    MOVE: "moved_within_system",
    GROUP_CHANGE: "staff_group_change",
}


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def period_days(period: str) -> tuple[int, int, int]:
    """(first day, census day = last day, number of days) of YYYY-MM, as day numbers."""
    y, m = (int(x) for x in period.split("-"))
    last = calendar.monthrange(y, m)[1]
    return day_number(dt.date(y, m, 1)), day_number(dt.date(y, m, last)), last


def add_months(period: str, k: int) -> str:
    y, m = (int(x) for x in period.split("-"))
    idx = y * 12 + (m - 1) + k
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


@dataclass(frozen=True)
class OrgSpec:
    ods_code: str
    name: str
    sector: str
    kind: str
    headcount: int


@dataclass
class RoleTable:
    """Every role of the system as parallel arrays, indexed by role id."""

    keys: list[str]
    is_sector_role: np.ndarray
    staff_group: np.ndarray
    harmonised_role: np.ndarray
    standard_hours: np.ndarray
    registered: np.ndarray
    female_share: np.ndarray
    full_time_share: np.ndarray
    fixed_term_share: np.ndarray
    young: np.ndarray
    bands: list[tuple[np.ndarray, np.ndarray]]
    occupation_codes: list[np.ndarray]
    titles: list[np.ndarray]
    index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, std: Standard) -> RoleTable:
        harmonised_group = {
            r["code"]: r["staff_group"] for r in std.codelists["harmonised_role"].rows
        }
        sector_rows = {r["code"]: r for r in std.codelists["sector_role"].rows}
        titles_by_role: dict[str, list[str]] = {}
        for r in std.codelists["job_title_map"].rows:
            titles_by_role.setdefault(r["harmonised_role"], []).append(r["local_title"])
        roles = list(P.NHS_ROLES.values()) + list(P.SECTOR_ROLES.values())
        keys, sector, group, harmonised, titles = [], [], [], [], []
        for r in roles:
            keys.append(r.key)
            if r.key in P.SECTOR_ROLES:
                row = sector_rows[r.key]
                sector.append(True)
                group.append(row["staff_group"])
                harmonised.append(row["harmonised_role"])
            else:
                sector.append(False)
                group.append(harmonised_group[r.key])
                harmonised.append(r.key)
            titles.append(np.array(titles_by_role.get(harmonised[-1], [harmonised[-1].lower()])))
        return cls(
            keys=keys,
            is_sector_role=np.array(sector),
            staff_group=np.array(group, dtype=object),
            harmonised_role=np.array(harmonised, dtype=object),
            standard_hours=np.array([r.standard_hours for r in roles]),
            registered=np.array([r.registered for r in roles]),
            female_share=np.array([r.female_share for r in roles]),
            full_time_share=np.array([r.full_time_share for r in roles]),
            fixed_term_share=np.array([r.fixed_term_share for r in roles]),
            young=np.array([r.young for r in roles]),
            bands=[
                (
                    np.array([b for b, _ in r.bands], dtype=object),
                    np.array([w for _, w in r.bands]) / sum(w for _, w in r.bands),
                )
                for r in roles
            ],
            occupation_codes=[np.array(r.occupation_codes, dtype=object) for r in roles],
            titles=titles,
            index={k: i for i, k in enumerate(keys)},
        )


def _choice(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(options), dtype=object)
    w = np.array(list(options.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=w / w.sum())]


class World:
    """People and assignments of the system; arrays only grow, so indices stay valid."""

    ASSIGNMENT_FIELDS = {
        "person": np.int64,
        "org": np.int32,
        "role": np.int32,
        "band": object,
        "occ": object,
        "hours": np.float64,
        "fte": np.float64,
        "contract": object,
        "start": np.int64,
        "end": np.int64,
        "main": bool,
        "title": object,
        "seq": np.int32,
        "end_kind": np.int8,
        "reason": object,
        "dest": object,
        "recorded_group": object,
        "to_org": np.int32,
    }
    PEOPLE_FIELDS = {
        "ni": object,
        "dob": np.int64,
        "gender": object,
        "ethnic": object,
        "disability": object,
        "ni_style": np.int8,
        "name": object,
        "postcode": object,
        "next_seq": np.int32,
    }

    def __init__(self, std: Standard, orgs: list[OrgSpec], params: P.Params, seed: int):
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.std = std
        self.orgs = orgs
        self.params = params
        self.rng = rng
        self.roles = RoleTable.build(std)
        self.org_sector = np.array([o.sector for o in orgs], dtype=object)
        self.org_kind = np.array([o.kind for o in orgs], dtype=object)
        self.promotable_role = np.array([k in P.PROMOTIONS for k in self.roles.keys])
        self.org_mix = []
        for o in orgs:
            mix = P.ROLE_MIX[o.kind]
            ids = np.array([self.roles.index[k] for k in mix])
            w = np.array(list(mix.values()), dtype=float)
            self.org_mix.append((ids, w / w.sum()))
        self.a = {k: np.empty(0, dtype=t) for k, t in self.ASSIGNMENT_FIELDS.items()}
        self.p = {k: np.empty(0, dtype=t) for k, t in self.PEOPLE_FIELDS.items()}
        self.rejoin_person = np.empty(0, np.int64)
        self.rejoin_org = np.empty(0, np.int32)
        self.rejoin_month = np.empty(0, np.int32)
        self.censuses: list[np.ndarray] = []  # per month: assignment indices in post
        self.leavers: list[
            np.ndarray
        ] = []  # per month: assignment indices that ended (org leave / move)
        self.group_changes = 0

    # -- people and assignments ---------------------------------------------------------
    @property
    def n_people(self) -> int:
        return self.p["ni"].size

    def _append(self, table: dict, rows: dict) -> np.ndarray:
        n = len(next(iter(rows.values())))
        start = table[next(iter(table))].size
        for k, arr in table.items():
            table[k] = np.concatenate([arr, np.asarray(rows[k], dtype=arr.dtype)])
        return np.arange(start, start + n)

    def new_people(self, roles: np.ndarray, ages: np.ndarray, at_day: np.ndarray) -> np.ndarray:
        rng, n = self.rng, roles.size
        female = rng.random(n) < self.roles.female_share[roles]
        gender = np.where(female, "F", "M").astype(object)
        other = rng.random(n)
        gender[other < 0.002] = "I"
        gender[(other >= 0.002) & (other < 0.005)] = "X"
        u = rng.random(n)
        bme = u < self.params.bme_share
        ethnic = np.where(
            bme,
            _choice(rng, P.BME_CATEGORIES, n),
            _choice(rng, P.WHITE_CATEGORIES, n),
        ).astype(object)
        v = rng.random(n)
        ethnic[v < P.NOT_STATED_SHARE] = "Z"
        not_known = (v >= P.NOT_STATED_SHARE) & (v < P.NOT_STATED_SHARE + P.NOT_KNOWN_SHARE)
        ethnic[not_known] = "99"
        # Not known is often nothing recorded, not the code: the field is left empty (None),
        # which the standard allows and reports as not known, and data quality counts as a gap.
        # (The split reuses `v`, so no draw is added and the rest of the world is unchanged.)
        empty_below = P.NOT_STATED_SHARE + P.NOT_KNOWN_SHARE * P.NOT_KNOWN_EMPTY_SHARE
        ethnic[not_known & (v < empty_below)] = None
        dob = at_day - (ages * 365.25).astype(np.int64)
        ni_style = rng.choice(3, size=n, p=[0.87, 0.1, 0.03])  # plain, spaced, lower case
        rows = {
            "ni": identities.ni_numbers(rng, n),
            "dob": dob,
            "gender": gender,
            "ethnic": ethnic,
            "disability": _choice(rng, P.DISABILITY, n),
            "ni_style": ni_style,
            "name": identities.names(rng, n),
            "postcode": identities.postcodes(rng, n),
            "next_seq": np.ones(n, np.int32),
        }
        idx = self._append(self.p, rows)
        # NI numbers must stay unique across the whole system, joiners included.
        _, first = np.unique(self.p["ni"], return_index=True)
        if first.size != self.n_people:
            dup = np.setdiff1d(np.arange(self.n_people), first)
            self.p["ni"][dup] = identities.ni_numbers(rng, dup.size)
        return idx

    def new_assignments(
        self,
        person: np.ndarray,
        org: np.ndarray,
        role: np.ndarray,
        start: np.ndarray,
        *,
        main: bool | np.ndarray = True,
        bank: np.ndarray | None = None,
        part_time_only: bool = False,
        hours: np.ndarray | None = None,
        contract: np.ndarray | None = None,
    ) -> np.ndarray:
        rng, n = self.rng, person.size
        R = self.roles
        band = np.empty(n, dtype=object)
        occ = np.full(n, "", dtype=object)
        title = np.empty(n, dtype=object)
        for r in np.unique(role):
            sel = np.flatnonzero(role == r)
            codes, w = R.bands[r]
            band[sel] = codes[rng.choice(codes.size, size=sel.size, p=w)]
            if R.occupation_codes[r].size:
                occ[sel] = R.occupation_codes[r][
                    rng.integers(0, R.occupation_codes[r].size, sel.size)
                ]
            titles = R.titles[r]
            title[sel] = titles[rng.integers(0, titles.size, sel.size)]
        # Resident doctors' occupation code follows their grade.
        resident = np.flatnonzero(role == R.index["RESIDENT_DOCTOR"])
        if resident.size:
            grade_code = {
                "MED_SPECIALTY_REGISTRAR": "030",
                "MED_CORE_TRAINING": "040",
                "MED_FY2": "050",
                "MED_FY1": "060",
            }
            occ[resident] = [grade_code[b] for b in band[resident]]
        title = self._messy_titles(title)
        if hours is None:
            full = (rng.random(n) < R.full_time_share[role]) & (not part_time_only)
            pt = _choice(rng, {str(k): v for k, v in P.PART_TIME_HOURS.items()}, n).astype(float)
            hours = np.where(full, R.standard_hours[role], pt)
        if contract is None:
            contract = np.where(
                rng.random(n) < R.fixed_term_share[role], "FIXED_TERM", "PERMANENT"
            ).astype(object)
            locum = (R.staff_group[role] == "HCHS_DOCTORS") & (rng.random(n) < 0.03)
            contract[locum] = "LOCUM"
        if bank is not None:
            contract = np.where(bank, "BANK", contract).astype(object)
            hours = np.where(bank, 0.0, hours)
        fte = np.round(hours / R.standard_hours[role], 4)
        recorded = R.staff_group[role].copy()
        nhs = self.org_sector[org] == "NHS_TRUST"
        wrong = nhs & (
            rng.random(n) < 0.004
        )  # ESR staff group out of step with the occupation code
        recorded[wrong] = "OTHER_UNKNOWN"
        seq = self.p["next_seq"][person].copy()
        # Several new assignments for one person in one call: number them in turn.
        order = np.argsort(person, kind="stable")
        sp = person[order]
        first_of_run = np.r_[True, sp[1:] != sp[:-1]]
        run_start = np.maximum.accumulate(np.where(first_of_run, np.arange(n), 0))
        seq[order] = seq[order] + (np.arange(n) - run_start)
        np.add.at(self.p["next_seq"], person, 1)
        rows = {
            "person": person,
            "org": org,
            "role": role,
            "band": band,
            "occ": occ,
            "hours": hours,
            "fte": fte,
            "contract": contract,
            "start": start,
            "end": np.full(n, OPEN_END),
            "main": np.broadcast_to(main, (n,)),
            "title": title,
            "seq": seq,
            "end_kind": np.zeros(n, np.int8),
            "reason": np.full(n, "", dtype=object),
            "dest": np.full(n, "", dtype=object),
            "recorded_group": recorded,
            "to_org": np.full(n, -1, np.int32),
        }
        return self._append(self.a, rows)

    def _messy_titles(self, titles: np.ndarray) -> np.ndarray:
        """Local spellings: case, spacing and punctuation vary; a few titles are unmapped."""
        rng, n = self.rng, titles.size
        out = titles.astype(object).copy()
        style = rng.choice(5, size=n, p=[0.55, 0.15, 0.1, 0.12, 0.08])
        for i in np.flatnonzero(style == 0):
            out[i] = out[i].title()
        for i in np.flatnonzero(style == 1):
            out[i] = out[i].upper()
        for i in np.flatnonzero(style == 3):
            out[i] = out[i].title().replace(" ", "-", 1)
        for i in np.flatnonzero(style == 4):
            out[i] = " " + out[i].capitalize() + "."
        unmapped = rng.random(n) < self.params.unmapped_title_share
        out[unmapped] = np.array(P.UNMAPPED_TITLES, dtype=object)[
            rng.integers(0, len(P.UNMAPPED_TITLES), unmapped.sum())
        ]
        return out

    def roles_for(self, org: np.ndarray) -> np.ndarray:
        out = np.empty(org.size, np.int32)
        for o in np.unique(org):
            sel = np.flatnonzero(org == o)
            ids, w = self.org_mix[o]
            out[sel] = ids[self.rng.choice(ids.size, size=sel.size, p=w)]
        return out

    def hire(
        self,
        org: np.ndarray,
        start: np.ndarray,
        ages: np.ndarray,
        age_at: np.ndarray | int | None = None,
        with_extras: bool = True,
    ) -> np.ndarray:
        """New people joining `org` on `start`, aged `ages` on `age_at` (default: on start);
        returns their main assignment indices."""
        role = self.roles_for(org)
        young = self.roles.young[role]
        ages = np.where(young, 24 + self.rng.random(org.size) * 8, ages)
        person = self.new_people(
            role, ages, start if age_at is None else np.broadcast_to(age_at, org.shape)
        )
        bank_only = self.rng.random(org.size) < self.params.bank_only_share
        mains = self.new_assignments(person, org, role, start, bank=bank_only)
        if with_extras:
            self._second_assignments(mains[~bank_only])
        return mains

    def _second_assignments(self, mains: np.ndarray) -> None:
        rng = self.rng
        has = mains[rng.random(mains.size) < self.params.second_assignment_share]
        if not has.size:
            return
        kind = _choice(rng, P.SECOND_ASSIGNMENT_KINDS, has.size)
        person, org, role = self.a["person"][has], self.a["org"][has], self.a["role"][has]
        start = self.a["start"][has] + rng.integers(0, 200, has.size)
        bank = kind == "bank_same_org"
        same = kind != "post_other_org"
        if bank.any():
            self.new_assignments(
                person[bank],
                org[bank],
                role[bank],
                start[bank],
                main=False,
                bank=np.ones(bank.sum(), bool),
            )
        # Second posts are small: a few sessions a week (7.5-15 hours), so that a person's
        # total FTE stays plausible.
        post = kind == "post_same_org"
        if post.any():
            hours = rng.choice([7.5, 11.25, 15.0], size=int(post.sum()))
            self.new_assignments(
                person[post],
                org[post],
                self.roles_for(org[post]),
                start[post],
                main=False,
                hours=hours,
            )
        other = ~same
        if other.any() and len(self.orgs) > 1:
            shift = rng.integers(1, len(self.orgs), other.sum())
            other_org = ((org[other] + shift) % len(self.orgs)).astype(np.int32)
            hours = rng.choice([7.5, 11.25, 15.0], size=int(other.sum()))
            self.new_assignments(
                person[other],
                other_org,
                self.roles_for(other_org),
                start[other],
                main=True,
                hours=hours,
            )

    # -- the months ---------------------------------------------------------------------
    def initial_population(self, first_period: str) -> None:
        first_day, _, _ = period_days(first_period)
        before = first_day - 1
        counts = np.array([o.headcount for o in self.orgs])
        org = np.repeat(np.arange(len(self.orgs), dtype=np.int32), counts)
        a, b = P.AGE_BETA
        ages = P.MIN_AGE + (P.MAX_AGE - P.MIN_AGE) * self.rng.beta(a, b, org.size)
        tenure_years = np.minimum(
            self.rng.exponential(P.MEAN_TENURE_YEARS, org.size), ages - P.MIN_AGE
        )
        start = before - (tenure_years * 365.25).astype(np.int64)
        # Ages are drawn at the census before the first period; dates of birth follow.
        mains = self.hire(org, start, ages, age_at=before)
        young = self.roles.young[self.a["role"][mains]]
        self.a["start"][mains[young]] = before - self.rng.integers(30, 700, young.sum())
        # Second assignments cannot start before the census they are drawn for.
        later = self.a["start"] > before
        self.a["start"][later] = before - self.rng.integers(0, 300, later.sum())

    def ages_at(self, person: np.ndarray, day: int) -> np.ndarray:
        return (day - self.p["dob"][person]) / 365.25

    def active_on(self, day: int) -> np.ndarray:
        return (self.a["start"] <= day) & (self.a["end"] >= day)

    def step(self, month_index: int, period: str) -> None:
        rng, A, params = self.rng, self.a, self.params
        first, census, ndays = period_days(period)
        # Employed on the first day of the month (so not someone who left last month).
        active = (A["start"] < first) & (A["end"] >= first)
        mains = np.flatnonzero(active & A["main"])

        # 1. Who leaves their organisation this month.
        person, org = A["person"][mains], A["org"][mains]
        age = self.ages_at(person, first)
        annual = np.array([params.annual_leaver_rate[s] for s in self.org_sector[org]])
        mult = np.ones(mains.size)
        for lo, hi, m in P.AGE_LEAVE_MULTIPLIER:
            mult[(age >= lo) & (age < hi)] = m
        mult[A["contract"][mains] == "FIXED_TERM"] *= P.FIXED_TERM_LEAVE_MULTIPLIER
        # The multipliers shape who leaves, not how many: keep each sector at its rate.
        sectors = self.org_sector[org]
        for sec in np.unique(sectors):
            sel = sectors == sec
            mult[sel] /= mult[sel].mean()
        # Multipliers act on the monthly hazard, which keeps the expected rate at the sector's
        # (on the annual rate they would inflate it: the conversion is convex).
        p_leave = np.minimum((1 - (1 - annual) ** (1 / 12)) * mult, 0.5)
        leaving = mains[rng.random(mains.size) < p_leave]

        lperson, lorg = A["person"][leaving], A["org"][leaving]
        lage = self.ages_at(lperson, first)
        move = (
            (lage < 60)
            & (rng.random(leaving.size) < params.move_share)
            & (A["contract"][leaving] != "BANK")
            & (len(self.orgs) > 1)
        )
        # A mover cannot go where they already work.
        dest = np.full(leaving.size, -1, np.int32)
        if move.any():
            dest[move] = self._destinations(lorg[move], lperson[move], first - 1)
            move &= dest >= 0
        # Leavers go before the census day, so a leaver is never also in post at the census
        # of the month they left; a mover starts at the new organisation the next day.
        end = first + rng.integers(0, ndays - 1, leaving.size)
        retire_age = lage >= 60
        reason = np.where(
            move,
            _choice(rng, P.MOVER_REASONS, leaving.size),
            np.where(
                retire_age,
                _choice(rng, P.RETIREMENT_REASONS, leaving.size),
                _choice(rng, P.LEAVING_REASONS, leaving.size),
            ),
        ).astype(object)
        fixed = (A["contract"][leaving] == "FIXED_TERM") & ~move & (rng.random(leaving.size) < 0.5)
        reason[fixed] = "END_FIXED_TERM"
        known = rng.random(leaving.size) < P.DESTINATION_KNOWN_SHARE
        dest_sector = np.where(dest >= 0, self.org_sector[np.maximum(dest, 0)], "")
        dest_code = np.select(
            [
                dest_sector == "NHS_TRUST",
                dest_sector == "PRIMARY_CARE",
                dest_sector == "SOCIAL_CARE",
                dest_sector == "INDEPENDENT_VOLUNTARY",
            ],
            ["NHS_ORGANISATION", "PRIMARY_CARE", "SOCIAL_CARE", "OTHER_EMPLOYMENT"],
            default="",
        ).astype(object)
        exit_dest = np.where(
            np.isin(reason, ["RETIREMENT_AGE", "RETIREMENT_FLEXI", "RETIREMENT_ILL_HEALTH"]),
            "RETIREMENT",
            _choice(rng, P.EXIT_DESTINATIONS, leaving.size),
        ).astype(object)
        destination = np.where(known, np.where(move, dest_code, exit_dest), "").astype(object)
        destination[~known & (rng.random(leaving.size) < 0.5)] = "UNKNOWN"

        # End every assignment the leaver holds at that organisation.
        key = A["person"] * len(self.orgs) + A["org"]
        leave_key = lperson * len(self.orgs) + lorg
        order = np.argsort(leave_key)
        affected = np.flatnonzero(active & np.isin(key, leave_key))
        pos = order[np.searchsorted(leave_key[order], key[affected])]
        A["end"][affected] = end[pos]
        A["end_kind"][affected] = np.where(move[pos], MOVE, ORG_LEAVE)
        A["reason"][affected] = reason[pos]
        A["dest"][affected] = destination[pos]
        A["to_org"][affected] = dest[pos]

        # 2. Internal steps that change staff group (the old assignment ends the day before).
        staying = np.setdiff1d(mains, leaving)
        promotable = self.promotable_role[A["role"][staying]] & (A["contract"][staying] != "BANK")
        cand = staying[promotable & (rng.random(staying.size) < params.annual_promotion_rate / 12)]
        if cand.size:
            new_role = np.array(
                [self.roles.index[P.PROMOTIONS[self.roles.keys[r]]] for r in A["role"][cand]],
                dtype=np.int32,
            )
            A["end"][cand] = first - 1
            A["end_kind"][cand] = GROUP_CHANGE
            self.new_assignments(
                A["person"][cand],
                A["org"][cand],
                new_role,
                np.full(cand.size, first),
                hours=A["hours"][cand],
                contract=np.full(cand.size, "PERMANENT", dtype=object),
            )
            self.group_changes += int(
                np.sum(self.roles.staff_group[new_role] != self.roles.staff_group[A["role"][cand]])
            )

        # 3. Movers start at their new organisation the day after they left.
        if move.any():
            mp, md = lperson[move], dest[move]
            new_role = self._role_at(A["role"][leaving[move]], md)
            self.new_assignments(mp, md, new_role, end[move] + 1, hours=A["hours"][leaving[move]])

        # 4. Some of those who left the system come back later to the same organisation.
        exits = ~move & (lage < 62)
        back = exits & (rng.random(leaving.size) < params.rejoin_share)
        self.rejoin_person = np.concatenate([self.rejoin_person, lperson[back]])
        self.rejoin_org = np.concatenate([self.rejoin_org, lorg[back]])
        self.rejoin_month = np.concatenate(
            [self.rejoin_month, month_index + rng.integers(2, 11, back.sum()).astype(np.int32)]
        )
        due = self.rejoin_month == month_index
        if due.any():
            rp, ro = self.rejoin_person[due], self.rejoin_org[due]
            busy = self._works_at(rp, ro, first)
            rp, ro = rp[~busy], ro[~busy]
            self.new_assignments(
                rp, ro, self.roles_for(ro), first + rng.integers(0, ndays, rp.size)
            )
            keep = ~due
            self.rejoin_person, self.rejoin_org, self.rejoin_month = (
                self.rejoin_person[keep],
                self.rejoin_org[keep],
                self.rejoin_month[keep],
            )

        # 5. Hiring to stay on each organisation's growth path.
        in_post = self.active_on(census) & A["main"]
        current = np.bincount(A["org"][in_post], minlength=len(self.orgs))
        target = np.array([o.headcount for o in self.orgs]) * (1 + params.annual_growth) ** (
            (month_index + 1) / 12
        )
        hires = np.maximum(0, np.round(target - current)).astype(int)
        if hires.sum():
            horg = np.repeat(np.arange(len(self.orgs), dtype=np.int32), hires)
            a, b = P.JOINER_AGE_BETA
            ages = P.MIN_AGE + (P.MAX_AGE - P.MIN_AGE) * rng.beta(a, b, horg.size)
            self.hire(horg, first + rng.integers(0, ndays, horg.size), ages)

        # 6. The census and the month's leavers.
        self.censuses.append(np.flatnonzero(self.active_on(census)))
        ended = (
            (A["end"] >= first) & (A["end"] <= census) & np.isin(A["end_kind"], [ORG_LEAVE, MOVE])
        )
        self.leavers.append(np.flatnonzero(ended))

    def _works_at(self, person: np.ndarray, org: np.ndarray, day: int) -> np.ndarray:
        A, n = self.a, len(self.orgs)
        act = self.active_on(day)
        return np.isin(person * n + org, A["person"][act] * n + A["org"][act])

    def _destinations(self, org: np.ndarray, person: np.ndarray, day: int) -> np.ndarray:
        """Another organisation of the system, mostly of the same sector, weighted by size."""
        rng = self.rng
        sizes = np.array([o.headcount for o in self.orgs], dtype=float)
        out = np.full(org.size, -1, np.int32)
        for o in np.unique(org):
            sel = np.flatnonzero(org == o)
            same = (self.org_sector == self.org_sector[o]).astype(float)
            w = sizes * np.where(same > 0, 3.0, 1.0)
            w[o] = 0
            if w.sum() == 0:
                continue
            out[sel] = rng.choice(len(self.orgs), size=sel.size, p=w / w.sum())
        busy = self._works_at(person, np.maximum(out, 0), day)
        out[busy] = -1
        return out

    def _role_at(self, role: np.ndarray, org: np.ndarray) -> np.ndarray:
        """The role a mover takes at a new organisation: the same harmonised role if that
        organisation's sector has it, else a role of the same staff group, else any."""
        R = self.roles
        out = np.empty(role.size, np.int32)
        for i, (r, o) in enumerate(zip(role.tolist(), org.tolist(), strict=True)):
            ids, w = self.org_mix[o]
            same_role = ids[R.harmonised_role[ids] == R.harmonised_role[r]]
            same_group = ids[R.staff_group[ids] == R.staff_group[r]]
            if same_role.size:
                out[i] = same_role[0]
            elif same_group.size:
                out[i] = same_group[self.rng.integers(0, same_group.size)]
            else:
                out[i] = ids[self.rng.choice(ids.size, p=w)]
        return out
