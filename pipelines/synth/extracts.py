"""Turn a simulated system into extract files and the ground truth beside them.

Extracts are written per organisation, per extract type, per month, in the standard's
columns (source form: NI numbers, local assignment numbers, dates of birth), and for NHS
trusts optionally also in an ESR-style layout so the submission tool's column mapping has a
realistic source. The ground truth (who was where when, and why they left) is written as
Parquet beside them for tests to check the models against.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import identities
from pipelines.synth import params as P
from pipelines.synth.simulate import (
    END_KIND_NAMES,
    OPEN_END,
    World,
    period_days,
)

EPOCH_DATE = np.datetime64("1970-01-01", "D")

ESR_STAFF_GROUP = {
    "HCHS_DOCTORS": "Medical and Dental",
    "NURSES_HV": "Nursing and Midwifery Registered",
    "MIDWIVES": "Nursing and Midwifery Registered",
    "AMBULANCE": "Allied Health Professionals",
    "STT": "Allied Health Professionals",
    "SUPPORT_DNM": "Additional Clinical Services",
    "SUPPORT_AMBULANCE": "Additional Clinical Services",
    "SUPPORT_STT": "Additional Clinical Services",
    "CENTRAL_FUNCTIONS": "Administrative and Clerical",
    "MANAGERS": "Administrative and Clerical",
    "SENIOR_MANAGERS": "Administrative and Clerical",
    "HOTEL_PROPERTY_ESTATES": "Estates and Ancillary",
    "OTHER_UNKNOWN": "Supplementary Roles",
}
ESR_STAFF_GROUP_BY_ROLE = {
    "BIOMEDICAL_SCIENTIST": "Healthcare Scientists",
    "PHARMACIST": "Additional Professional Scientific and Technical",
    "PSYCHOLOGIST": "Additional Professional Scientific and Technical",
}
ESR_PAY_BAND = {
    **{
        f"AFC_{b}": f"Band {b[0]}{b[1:].lower()}"
        for b in ["1", "2", "3", "4", "5", "6", "7", "8A", "8B", "8C", "8D", "9"]
    },
    "MED_CONSULTANT": "Consultant",
    "MED_SPECIALIST": "Specialist",
    "MED_SPECIALTY_DOCTOR": "Specialty Doctor",
    "MED_SPECIALTY_REGISTRAR": "Specialty Registrar",
    "MED_CORE_TRAINING": "Core Training",
    "MED_FY2": "Foundation Year 2",
    "MED_FY1": "Foundation Year 1",
    "MED_GP": "General Practitioner",
    "VSM": "VSM",
    "LOCAL": "Local",
}
ESR_CONTRACT = {
    "PERMANENT": "Permanent",
    "FIXED_TERM": "Fixed Term Temp",
    "BANK": "Bank",
    "LOCUM": "Locum",
}
ESR_GENDER = {"F": "Female", "M": "Male", "I": "Indeterminate", "X": "Not Known"}
ESR_DISABILITY = {"Y": "Yes", "N": "No", "U": "Not Declared"}
ESR_COLUMNS = [
    "Tm Year Month",
    "Org Code",
    "Unique Nhs Identifier",
    "Assignment Number",
    "Ni Number",
    "Nhs Number",
    "Full Name",
    "Date Of Birth",
    "Gender",
    "Ethnic Origin",
    "Disability Flag",
    "Position Title",
    "Occupation Code",
    "Staff Group",
    "Pay Band",
    "Contracted Hours",
    "Contracted Wte",
    "Asg Type Of Contract",
    "Assignment Start Date",
    "Asg Full Part Time",
    "Professional Registration Status",
    "Home Postcode",
    "Work Email Address",
]


def _s(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), pa.string())


def _iso(days: np.ndarray) -> pa.Array:
    return pa.array(EPOCH_DATE + days.astype("timedelta64[D]"), pa.date32()).cast(pa.string())


def _dmy(days: np.ndarray) -> pa.Array:
    return pc.strftime(
        pa.array(EPOCH_DATE + days.astype("timedelta64[D]"), pa.date32()).cast(pa.timestamp("s")),
        "%d/%m/%Y",
    )


def _num(values: np.ndarray, decimals: int) -> pa.Array:
    return pa.array(np.round(values.astype(float), decimals)).cast(pa.string())


def _vector_lookup(mapping: dict, keys: np.ndarray) -> np.ndarray:
    """Map a column of codes through a small dict without a per-row Python call."""
    uniq, inv = np.unique(keys.astype(str), return_inverse=True)
    return np.array([mapping.get(u, "") for u in uniq], dtype=object)[inv]


def calendar_age(born: np.ndarray, day: np.ndarray | int) -> np.ndarray:
    """Whole years from `born` to `day` (both days since 1970-01-01) by the calendar."""
    b = EPOCH_DATE + np.asarray(born).astype("timedelta64[D]")
    d = EPOCH_DATE + np.broadcast_to(np.asarray(day), np.shape(born)).astype("timedelta64[D]")
    years = d.astype("datetime64[Y]").astype(int) - b.astype("datetime64[Y]").astype(int)

    # Day of the year's calendar position (month, day), compared as month * 32 + day.
    def month_day(x: np.ndarray) -> np.ndarray:
        month = x.astype("datetime64[M]").astype(int) % 12
        return month * 32 + (x - x.astype("datetime64[M]")).astype(int)

    return years - (month_day(d) < month_day(b)).astype(int)


class ExtractBuilder:
    def __init__(self, world: World, periods: list[str], age_band_only_kinds: tuple[str, ...]):
        self.w = world
        self.periods = periods
        self.age_band_only = np.isin(world.org_kind, list(age_band_only_kinds))
        std = world.std
        rows = std.codelists["age_band"].rows
        self.band_min = np.array([int(r["min_age"]) for r in rows])
        self.band_code = np.array([r["code"] for r in rows], dtype=object)
        self.ethnic_origin = {
            r["code"]: f"{r['code']} {r['label']}" for r in std.codelists["ethnic_category"].rows
        }
        self.org_codes = np.array([o.ods_code for o in world.orgs], dtype=object)

    # -- helpers ------------------------------------------------------------------------
    def age_band(self, person: np.ndarray, day: np.ndarray | int) -> np.ndarray:
        """The band of the age in whole years on `day`, as an HR system works it out: a
        birthday on `day` counts. (It was days / 365.25, a day out on some birthdays: found
        when the marts were first compared with the truth by age band.)"""
        age = calendar_age(self.w.p["dob"][person], day)
        return self.band_code[np.searchsorted(self.band_min, age, side="right") - 1]

    def ni_as_held(self, person: np.ndarray) -> np.ndarray:
        """NI numbers as an HR system holds them: mostly plain, some spaced, some lower case."""
        ni = self.w.p["ni"][person]
        style = self.w.p["ni_style"][person]
        out = ni.copy()
        spaced = style == 1
        if spaced.any():
            arr = pa.array(ni[spaced], pa.string())
            parts = [
                pc.utf8_slice_codeunits(arr, a, b)
                for a, b in [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9)]
            ]
            out[spaced] = np.asarray(pc.binary_join_element_wise(*parts, " "), dtype=object)
        lower = style == 2
        out[lower] = np.asarray(pc.utf8_lower(pa.array(ni[lower], pa.string())), dtype=object)
        return out

    def assignment_ids(self, idx: np.ndarray) -> np.ndarray:
        A = self.w.a
        esr = (10_000_000 + A["person"][idx]).astype(str)
        return np.asarray(
            pc.binary_join_element_wise(pa.array(esr), pa.array(A["seq"][idx].astype(str)), "-"),
            dtype=object,
        )

    def _org_fields(self, idx: np.ndarray) -> dict:
        """Columns shared by the person-level extracts."""
        w, A, R = self.w, self.w.a, self.w.roles
        role = A["role"][idx]
        org = A["org"][idx]
        nhs = w.org_sector[org] == "NHS_TRUST"
        return {
            "org_code": self.org_codes[org],
            "sector": w.org_sector[org],
            "occupation_code": np.where(nhs, A["occ"][idx], ""),
            "sector_role": np.where(
                R.is_sector_role[role], np.array(R.keys, dtype=object)[role], ""
            ),
            "staff_group": A["recorded_group"][idx],
            "pay_band": A["band"][idx],
            "contract_type": A["contract"][idx],
        }

    # -- extracts -----------------------------------------------------------------------
    def staff_in_post(self) -> pa.Table:
        w, A, R = self.w, self.w.a, self.w.roles
        parts = []
        for m, period in enumerate(self.periods):
            idx = w.censuses[m]
            _, census, _ = period_days(period)
            person, org = A["person"][idx], A["org"][idx]
            f = self._org_fields(idx)
            band_only = self.age_band_only[org]
            dob = w.p["dob"][person]
            role = A["role"][idx]
            parts.append(
                pa.table(
                    {
                        "org_code": _s(f["org_code"]),
                        "period": _s(np.full(idx.size, period, dtype=object)),
                        "person_id": _s(self.ni_as_held(person)),
                        "assignment_id": _s(self.assignment_ids(idx)),
                        "sector": _s(f["sector"]),
                        "local_job_title": _s(A["title"][idx]),
                        "occupation_code": _s(f["occupation_code"]),
                        "sector_role": _s(f["sector_role"]),
                        "staff_group": _s(f["staff_group"]),
                        "pay_band": _s(f["pay_band"]),
                        "contracted_hours": _num(A["hours"][idx], 2),
                        "fte": _num(A["fte"][idx], 4),
                        "contract_type": _s(f["contract_type"]),
                        "assignment_start_date": _iso(A["start"][idx]),
                        "date_of_birth": pc.if_else(
                            pa.array(band_only), pa.scalar("", pa.string()), _iso(dob)
                        ),
                        "age_band": _s(np.where(band_only, self.age_band(person, census), "")),
                        "gender": _s(w.p["gender"][person]),
                        "ethnic_category": _s(w.p["ethnic"][person]),
                        "disability": _s(w.p["disability"][person]),
                        "working_pattern": _s(
                            np.where(A["hours"][idx] >= R.standard_hours[role], "FT", "PT")
                        ),
                        "professional_registration": _s(np.where(R.registered[role], "Y", "N")),
                    }
                )
            )
        return pa.concat_tables(parts)

    def esr_staff_in_post(self, sip: pa.Table) -> pa.Table:
        """ESR-style layout of the NHS trusts' staff in post (same rows as the standard files)."""
        w, A = self.w, self.w.a
        # NHS numbers only appear in this layout; their own stream keeps the rest of the
        # system the same whether or not the layout is written.
        self.nhs_numbers = identities.nhs_numbers_in_test_range(
            np.random.default_rng((w.seed, 7)), w.n_people
        )
        parts = []
        for m, period in enumerate(self.periods):
            idx = w.censuses[m]
            idx = idx[w.org_sector[A["org"][idx]] == "NHS_TRUST"]
            person = A["person"][idx]
            role = A["role"][idx]
            harm = w.roles.harmonised_role[role]
            esr_group = np.where(
                np.isin(harm, list(ESR_STAFF_GROUP_BY_ROLE)),
                _vector_lookup(ESR_STAFF_GROUP_BY_ROLE, harm),
                _vector_lookup(ESR_STAFF_GROUP, A["recorded_group"][idx]),
            )
            ethnic = w.p["ethnic"][person]
            name = pa.array(w.p["name"][person], pa.string())
            surname_first = pc.split_pattern(pc.utf8_lower(name), ", ")
            local_part = pc.binary_join_element_wise(
                pc.list_element(surname_first, 1),
                pc.list_element(surname_first, 0),
                pa.array(A["seq"][idx].astype(str)),
                ".",
            )
            org_code = self.org_codes[A["org"][idx]]
            domain = pc.binary_join_element_wise(
                pc.utf8_lower(pa.array(org_code.astype(str))), pa.scalar("nhs.example"), "."
            )
            email = pc.binary_join_element_wise(local_part, domain, "@")
            nhs = pa.array(self.nhs_numbers[person], pa.string())
            nhs_spaced = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(nhs, 0, 3),
                pc.utf8_slice_codeunits(nhs, 3, 6),
                pc.utf8_slice_codeunits(nhs, 6, 10),
                " ",
            )
            fte = A["fte"][idx]
            parts.append(
                pa.table(
                    {
                        "Tm Year Month": _s(
                            np.full(idx.size, period.replace("-", "/"), dtype=object)
                        ),
                        "Org Code": _s(org_code),
                        "Unique Nhs Identifier": _s((10_000_000 + person).astype(str)),
                        "Assignment Number": _s(self.assignment_ids(idx)),
                        "Ni Number": _s(self.ni_as_held(person)),
                        "Nhs Number": nhs_spaced,
                        "Full Name": name,
                        "Date Of Birth": _dmy(w.p["dob"][person]),
                        "Gender": _s(_vector_lookup(ESR_GENDER, w.p["gender"][person])),
                        "Ethnic Origin": _s(_vector_lookup(self.ethnic_origin, ethnic)),
                        "Disability Flag": _s(
                            _vector_lookup(ESR_DISABILITY, w.p["disability"][person])
                        ),
                        "Position Title": _s(A["title"][idx]),
                        "Occupation Code": _s(A["occ"][idx]),
                        "Staff Group": _s(esr_group),
                        "Pay Band": _s(_vector_lookup(ESR_PAY_BAND, A["band"][idx])),
                        "Contracted Hours": _num(A["hours"][idx], 2),
                        "Contracted Wte": _num(fte, 4),
                        "Asg Type Of Contract": _s(
                            _vector_lookup(ESR_CONTRACT, A["contract"][idx])
                        ),
                        "Assignment Start Date": _dmy(A["start"][idx]),
                        "Asg Full Part Time": _s(
                            np.where(
                                A["hours"][idx] >= w.roles.standard_hours[role],
                                "Full Time",
                                "Part Time",
                            )
                        ),
                        "Professional Registration Status": _s(
                            np.where(w.roles.registered[role], "Registered", "")
                        ),
                        "Home Postcode": _s(w.p["postcode"][person]),
                        "Work Email Address": email,
                    }
                )
            )
        return pa.concat_tables(parts)

    def leavers(self) -> pa.Table:
        w, A = self.w, self.w.a
        parts = []
        for m, period in enumerate(self.periods):
            idx = w.leavers[m]
            person, org = A["person"][idx], A["org"][idx]
            f = self._org_fields(idx)
            band_only = self.age_band_only[org]
            parts.append(
                pa.table(
                    {
                        "org_code": _s(f["org_code"]),
                        "period": _s(np.full(idx.size, period, dtype=object)),
                        "person_id": _s(self.ni_as_held(person)),
                        "assignment_id": _s(self.assignment_ids(idx)),
                        "sector": _s(f["sector"]),
                        "occupation_code": _s(f["occupation_code"]),
                        "sector_role": _s(f["sector_role"]),
                        "staff_group": _s(f["staff_group"]),
                        "pay_band": _s(f["pay_band"]),
                        "contract_type": _s(f["contract_type"]),
                        "date_of_birth": pc.if_else(
                            pa.array(band_only),
                            pa.scalar("", pa.string()),
                            _iso(w.p["dob"][person]),
                        ),
                        "age_band": _s(
                            np.where(band_only, self.age_band(person, A["end"][idx]), "")
                        ),
                        "assignment_end_date": _iso(A["end"][idx]),
                        "leaving_reason": _s(A["reason"][idx]),
                        "destination": _s(A["dest"][idx]),
                    }
                )
            )
        return pa.concat_tables(parts)

    def _employments(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Main assignments in post at census m, with the person's FTE at that organisation."""
        A = self.w.a
        idx = self.w.censuses[m]
        n = len(self.w.orgs)
        key = A["person"][idx] * n + A["org"][idx]
        uniq, inv = np.unique(key, return_inverse=True)
        fte = np.bincount(inv, weights=A["fte"][idx])
        main_pos = np.flatnonzero(A["main"][idx])
        main_of_key = np.full(uniq.size, -1)
        main_of_key[inv[main_pos]] = idx[main_pos]
        ok = main_of_key >= 0
        return main_of_key[ok], fte[ok], uniq[ok]

    def sickness_absence(self) -> pa.Table:
        """FTE days lost per person-month: short spells and long-term absences that persist."""
        A, rng = self.w.a, self.w.rng
        lt_until = np.full(A["person"].size, -1)
        lt_reason = np.full(A["person"].size, "", dtype=object)
        parts = []
        for m, period in enumerate(self.periods):
            first, census, ndays = period_days(period)
            mains, fte, _ = self._employments(m)
            start = np.maximum(A["start"][mains], first)
            available = np.round((census - start + 1) * fte, 2)
            onset = (lt_until[mains] < m) & (
                rng.random(mains.size) < P.LONG_TERM_ONSET_MONTHLY_PROB
            )
            lt_until[mains[onset]] = m + rng.integers(
                P.LONG_TERM_MONTHS[0] - 1, P.LONG_TERM_MONTHS[1], onset.sum()
            )
            lt_reason[mains[onset]] = _choice_keys(rng, P.LONG_TERM_REASONS, onset.sum())
            long_term = lt_until[mains] >= m
            short = rng.random(mains.size) < P.SHORT_TERM_MONTHLY_PROB
            short_days = rng.geometric(1 / P.SHORT_TERM_MEAN_DAYS, mains.size)
            lost = np.where(short, short_days * fte, 0.0)
            lost = np.where(long_term, available * rng.uniform(0.6, 1.0, mains.size), lost)
            lost = np.round(np.minimum(lost, available), 2)
            reason = np.where(
                long_term, lt_reason[mains], _choice_keys(rng, P.SHORT_TERM_REASONS, mains.size)
            ).astype(object)
            reason[lost <= 0] = ""
            f = self._org_fields(mains)
            parts.append(
                pa.table(
                    {
                        "org_code": _s(f["org_code"]),
                        "period": _s(np.full(mains.size, period, dtype=object)),
                        "person_id": _s(self.ni_as_held(A["person"][mains])),
                        "staff_group": _s(f["staff_group"]),
                        "contract_type": _s(f["contract_type"]),
                        "fte_days_available": _num(available, 2),
                        "fte_days_lost": _num(lost, 2),
                        "sickness_reason": _s(reason),
                    }
                )
            )
        return pa.concat_tables(parts)

    def _substantive_fte(self, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Substantive FTE in post by (organisation, staff group) at census m."""
        w, A = self.w, self.w.a
        idx = w.censuses[m]
        sub = np.isin(A["contract"][idx], ["PERMANENT", "FIXED_TERM"]) & (A["fte"][idx] > 0)
        idx = idx[sub]
        groups = np.array(sorted(set(w.std.codes("staff_group"))), dtype=object)
        gi = np.searchsorted(groups, w.roles.staff_group[A["role"][idx]].astype(str))
        key = A["org"][idx].astype(np.int64) * groups.size + gi
        uniq, inv = np.unique(key, return_inverse=True)
        fte = np.bincount(inv, weights=A["fte"][idx])
        return (uniq // groups.size).astype(np.int32), groups[uniq % groups.size], fte

    def vacancies_and_temporary_staffing(self) -> tuple[pa.Table, pa.Table]:
        w, rng = self.w, self.w.rng
        groups = sorted(set(w.std.codes("staff_group")))
        base_rate = {
            (o, g): P.VACANCY_RATE_MEAN
            * w.params.vacancy_rate_mean
            / P.VACANCY_RATE_MEAN
            * float(np.exp(rng.normal(-(P.VACANCY_RATE_SPREAD**2) / 2, P.VACANCY_RATE_SPREAD)))
            for o in range(len(w.orgs))
            for g in groups
        }
        vac_parts, temp_parts = [], []
        for m, period in enumerate(self.periods):
            _, _, ndays = period_days(period)
            org, group, fte = self._substantive_fte(m)
            rate = np.array(
                [
                    min(0.3, base_rate[(o, g)] * float(np.exp(rng.normal(0, 0.05))))
                    for o, g in zip(org.tolist(), group.tolist(), strict=True)
                ]
            )
            establishment = np.round(fte / (1 - rate), 2)
            vacant = np.round(np.maximum(establishment - np.round(fte, 2), 0), 2)
            n = org.size
            vac_parts.append(
                pa.table(
                    {
                        "org_code": _s(self.org_codes[org]),
                        "period": _s(np.full(n, period, dtype=object)),
                        "sector": _s(w.org_sector[org]),
                        "staff_group": _s(group),
                        "harmonised_role": _s(np.full(n, "", dtype=object)),
                        "funded_establishment_fte": _num(establishment, 2),
                        "vacant_fte": _num(vacant, 2),
                    }
                )
            )
            bank_fte = vacant * rng.uniform(*P.BANK_COVER, n)
            agency_fte = vacant * rng.uniform(*P.AGENCY_COVER, n)
            override_share = np.where(rng.random(n) < 0.5, P.PRICE_CAP_OVERRIDE_SHARE * 2, 0.0)
            rate_gbp = np.array([P.HOURLY_RATE[g] for g in group.tolist()])
            rows = {k: [] for k in ["i", "supply", "override", "fte", "rate"]}
            for supply, sfte, mult, over in [
                ("BANK", bank_fte, 1.0, None),
                ("AGENCY", agency_fte * (1 - override_share), P.AGENCY_PREMIUM, "N"),
                ("AGENCY", agency_fte * override_share, P.AGENCY_PREMIUM * P.OVERRIDE_PREMIUM, "Y"),
            ]:
                keep = sfte >= 0.05  # at least a shift's worth of hours in the month
                rows["i"].append(np.flatnonzero(keep))
                rows["supply"].append(np.full(keep.sum(), supply, dtype=object))
                rows["override"].append(np.full(keep.sum(), over or "N", dtype=object))
                rows["fte"].append(sfte[keep])
                rows["rate"].append(rate_gbp[keep] * mult)
            i = np.concatenate(rows["i"])
            tfte = np.round(np.concatenate(rows["fte"]), 2)
            hours = np.round(tfte * 37.5 * ndays / 7, 1)
            shifts = np.ceil(hours / P.SHIFT_HOURS).astype(np.int64)
            spend = np.round(hours * np.concatenate(rows["rate"]), 2)
            order = np.lexsort(
                (
                    np.concatenate(rows["override"]),
                    np.concatenate(rows["supply"]),
                    group[i].astype(str),
                    org[i],
                )
            )
            temp_parts.append(
                pa.table(
                    {
                        "org_code": _s(self.org_codes[org[i]][order]),
                        "period": _s(np.full(i.size, period, dtype=object)),
                        "sector": _s(w.org_sector[org[i]][order]),
                        "staff_group": _s(group[i][order]),
                        "supply_type": _s(np.concatenate(rows["supply"])[order]),
                        "price_cap_override": _s(np.concatenate(rows["override"])[order]),
                        "hours_worked": _num(hours[order], 1),
                        "shifts_filled": pa.array(shifts[order]).cast(pa.string()),
                        "fte": _num(tfte[order], 2),
                        "spend_gbp": _num(spend[order], 2),
                    }
                )
            )
        return pa.concat_tables(vac_parts), pa.concat_tables(temp_parts)

    # -- ground truth -------------------------------------------------------------------
    def truth(self) -> dict[str, pa.Table]:
        w, A, R = self.w, self.w.a, self.w.roles
        n_a = A["person"].size
        all_idx = np.arange(n_a)
        end = A["end"]
        people = pa.table(
            {
                "person_key": pa.array(np.arange(w.n_people)),
                "ni_number": _s(w.p["ni"]),
                "date_of_birth": pa.array(
                    EPOCH_DATE + w.p["dob"].astype("timedelta64[D]"), pa.date32()
                ),
                "gender": _s(w.p["gender"]),
                "ethnic_category": _s(w.p["ethnic"]),
                "disability": _s(w.p["disability"]),
            }
        )
        assignments = pa.table(
            {
                "assignment_key": pa.array(all_idx),
                "person_key": pa.array(A["person"]),
                "org_code": _s(self.org_codes[A["org"]]),
                "assignment_id": _s(self.assignment_ids(all_idx)),
                "is_main": pa.array(A["main"]),
                "role": _s(np.array(R.keys, dtype=object)[A["role"]]),
                "harmonised_role": _s(R.harmonised_role[A["role"]]),
                "staff_group": _s(R.staff_group[A["role"]]),
                "recorded_staff_group": _s(A["recorded_group"]),
                "occupation_code": _s(A["occ"]),
                "pay_band": _s(A["band"]),
                "contract_type": _s(A["contract"]),
                "contracted_hours": pa.array(A["hours"]),
                "fte": pa.array(A["fte"]),
                "start_date": pa.array(
                    EPOCH_DATE + A["start"].astype("timedelta64[D]"), pa.date32()
                ),
                "end_date": pa.array(
                    np.where(
                        end == OPEN_END,
                        np.datetime64("NaT"),
                        EPOCH_DATE + np.minimum(end, 10**6).astype("timedelta64[D]"),
                    ),
                    pa.date32(),
                ),
                "end_kind": _s(
                    _vector_lookup({str(k): v for k, v in END_KIND_NAMES.items()}, A["end_kind"])
                ),
                "leaving_reason": _s(A["reason"]),
                "destination": _s(A["dest"]),
                "to_org_code": _s(
                    np.where(A["to_org"] >= 0, self.org_codes[np.maximum(A["to_org"], 0)], "")
                ),
            }
        )
        census = pa.concat_tables(
            [
                pa.table(
                    {
                        "period": _s(np.full(idx.size, period, dtype=object)),
                        "org_code": _s(self.org_codes[A["org"][idx]]),
                        "person_key": pa.array(A["person"][idx]),
                        "assignment_key": pa.array(idx),
                        "fte": pa.array(A["fte"][idx]),
                    }
                )
                for period, idx in zip(self.periods, w.censuses, strict=True)
            ]
        )
        return {"people": people, "assignments": assignments, "census": census}


def _choice_keys(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(options), dtype=object)
    w = np.array(list(options.values()), dtype=float)
    return keys[rng.choice(keys.size, size=n, p=w / w.sum())]
