"""Statistical disclosure control for published tables.

Policy (DOMAIN.md, per agreement): below system level, a count of 0 stays 0, a count of
1..suppress_max is suppressed, every other count rounds to the nearest round_to; magnitudes
built on people (FTE, days) round the same way and are suppressed with the cell they belong
to; a rate, share or mean whose numerator or denominator count is 1..suppress_max is
suppressed. Secondary suppression: wherever a group of cells adds up to a published total, a
relation (the group and its total) with exactly one suppressed cell gets a second one (the
group's smallest remaining cell), so no suppressed cell can be recovered by subtraction.

Each published table declares its rules in its dbt YAML (`meta.disclosure`), read here as a
TableSpec. A suppressed cell becomes NULL and is named in the row's `suppressed` column (and
written as "[c]" in CSV), so it is marked, never silently blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUPPRESSED_COLUMN = "suppressed"
CSV_MARKER = "[c]"
RATE_DECIMALS = 3


@dataclass(frozen=True)
class Policy:
    suppress_max: int = 7
    round_to: int = 5

    def stricter(self, other: Policy) -> Policy:
        return Policy(
            max(self.suppress_max, other.suppress_max), max(self.round_to, other.round_to)
        )


@dataclass(frozen=True)
class Additive:
    """Cells of `measures` that add up, within `group_by`, across the values of `across`, to
    the row matching `total_where` (a published total), or - with `total_where` empty
    ("implicit" in YAML) - to a total published elsewhere or implied (shares adding to 100%)."""

    measures: tuple[str, ...]
    group_by: tuple[str, ...]
    across: str
    total_where: dict


@dataclass(frozen=True)
class Follow:
    """Rates of this table that would reveal measures of another published table (`table`),
    so are hidden wherever one of those measures is hidden there (primary, secondary or
    withheld) in a row with the same `by` values, among that table's rows matching `where`.

    The stability index is stayers / headcount at the start: 1 minus it, times the start
    headcount, is the 12-month leavers that the turnover table may have suppressed."""

    table: str
    where: dict
    by: tuple[str, ...]
    rates: dict  # rate column of this table -> measures of `table` it would reveal
    # a `by` column of this table -> its name in `table`, where they differ (the staff group
    # of the vacancies is workforce_in_post's dimension_value)
    columns: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RateFormula:
    """How a rate is worked out, so that below system level it can be worked out again from
    the published (rounded) cells rather than published from the exact ones: a rate to three
    decimals beside counts rounded to 5 gives the exact counts back (one joiner rate and the
    rounded headcounts of its row pin the start, the end and the joiners, and the leavers
    suppressed beside them follow). Rows matching `where` (every row if empty) use it.

    The rate is the sum of the `numerator` cells over `denominator_scale` times the sum of
    the `denominator` cells, each rounded as published; or, with `denominator_total_over`,
    over the total of the numerator across the rows that share those columns' values (a
    share of the organisation's headcount), rounded as a count of that organisation is - no
    closer than the total it publishes elsewhere."""

    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()
    denominator_scale: float = 1.0
    denominator_total_over: tuple[str, ...] = ()
    where: dict = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: dict) -> RateFormula:
        return cls(
            numerator=tuple(meta["numerator"]),
            denominator=tuple(meta.get("denominator", [])),
            denominator_scale=float(meta.get("denominator_scale", 1.0)),
            denominator_total_over=tuple(meta.get("denominator_total_over", [])),
            where={k: tuple(v) for k, v in meta.get("where", {}).items()},
        )


@dataclass(frozen=True)
class TableSpec:
    org_columns: tuple[str, ...] = ("org_code",)
    exempt_when: dict = field(
        default_factory=dict
    )  # column -> values not controlled (system level)
    counts: tuple[str, ...] = ()
    cell_size: str | None = None
    magnitudes: tuple[str, ...] = ()
    magnitude_rounding: dict = field(
        default_factory=dict
    )  # column -> rounding base (default: round_to)
    rates: dict = field(default_factory=dict)  # rate column -> counts it is built on
    # magnitude -> counts of the people it is about, other than the row's cell size (the
    # days lost of the people absent): suppressed where one of them is 1..suppress_max
    built_on: dict = field(default_factory=dict)
    additive: tuple[Additive, ...] = ()
    unrestricted: dict = field(
        default_factory=dict
    )  # non-personal measure -> decimals; never suppressed
    follows: tuple[Follow, ...] = ()
    # Rows that agree on `copies_of` columns repeat the same values of `copy_measures` (the
    # turnover counts of a social care organisation, once per rate method): what is hidden
    # in one is hidden in every copy, or the copy would publish it.
    copies_of: tuple[str, ...] = ()
    copy_measures: tuple[str, ...] = ()
    # rate column -> how it is worked out from the published cells (RateFormula). A rate
    # without one is published to RATE_DECIMALS from the exact figures: only where what it
    # is built on is not about people's counts (vacancy_rate: FTE published unrestricted).
    rate_parts: dict = field(default_factory=dict)
    # Cells of one row tied by an identity (turnover: end = start - leavers + joiners): as
    # with a total, no row may have exactly one of them hidden, or the others give it back.
    row_identities: tuple[tuple[str, ...], ...] = ()
    # rate column -> measures of its row it would give back: hidden wherever one of them is
    # (primary, followed or secondary), without a small-count rule of its own (the vacancy
    # rate times the establishment is the vacant FTE; the establishment is not a count).
    hidden_with: dict = field(default_factory=dict)
    # Measures whose hidden cells are audited after secondary suppression: secondary pairs
    # hidden cells one relation at a time, and with hidden cells in both directions (staff
    # groups to the organisation's ALL row, organisations to the system's) a chain of pairs
    # can still fix a cell (found in re-review: 33 establishment cells within 0.3 FTE). A
    # cell the relations taken all at once determine gets one more cell hidden beside it.
    audit: tuple[str, ...] = ()
    # Rows whose every count is hidden are left out of the publication rather than published
    # as suppressed: where a row exists only for a cell of 1 or more (a flow between two
    # organisations), a hidden row still says "at least 1", and counting such rows against
    # an exact total pinned them (found in review: 78 flows cells recovered exactly).
    omit_suppressed_rows: bool = False
    # Measures controlled (primary and secondary suppression, so the rates on them are hidden
    # with them) but not published: where another table publishes the same figure, two
    # tables hiding it in different cells publish each other's hidden cells (found in
    # review: temporary_staffing's substantive headcount is vacancies', and 55 cells hidden
    # in one were published in the other). The column is left out of the published table
    # and of its `suppressed` text.
    unpublished: tuple[str, ...] = ()
    # measure -> a measure of the same row it is never more than (turnover's leavers staying
    # in the system are some of the row's leavers). A hidden cell beside its bound shown as 0
    # is 0, so it protects nothing: found in review, 3 leavers staying in the system hidden
    # as second cells sat beside published leavers of 0. Where that is so, the bound is
    # hidden too (a hidden 0 leaves the cell unknown), with the pairing that follows.
    bounded_by: dict = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: dict) -> TableSpec:
        return cls(
            org_columns=tuple(meta.get("org_columns", ["org_code"])),
            exempt_when={k: tuple(v) for k, v in meta.get("exempt_when", {}).items()},
            counts=tuple(meta.get("counts", [])),
            cell_size=meta.get("cell_size"),
            magnitudes=tuple(meta.get("magnitudes", [])),
            magnitude_rounding=dict(meta.get("magnitude_rounding", {})),
            rates={k: tuple(v) for k, v in meta.get("rates", {}).items()},
            built_on={k: tuple(v) for k, v in meta.get("built_on", {}).items()},
            additive=tuple(
                Additive(
                    tuple(a["measures"]),
                    tuple(a["group_by"]),
                    a["across"],
                    {} if a["total_where"] == "implicit" else dict(a["total_where"]),
                )
                for a in meta.get("additive", [])
            ),
            unrestricted=dict(meta.get("unrestricted", {})),
            follows=tuple(
                Follow(
                    f["table"],
                    dict(f.get("where", {})),
                    tuple(f["by"]),
                    {rate: tuple(ms) for rate, ms in f["rates"].items()},
                    dict(f.get("columns", {})),
                )
                for f in meta.get("follows", [])
            ),
            copies_of=tuple(meta.get("copies", {}).get("of", [])),
            copy_measures=tuple(meta.get("copies", {}).get("measures", [])),
            row_identities=tuple(tuple(i) for i in meta.get("row_identities", [])),
            hidden_with={k: tuple(v) for k, v in meta.get("hidden_with", {}).items()},
            audit=tuple(meta.get("audit", [])),
            omit_suppressed_rows=bool(meta.get("omit_suppressed_rows", False)),
            unpublished=tuple(meta.get("unpublished", [])),
            bounded_by=dict(meta.get("bounded_by", {})),
            rate_parts={
                rate: tuple(
                    RateFormula.from_meta(f) for f in (fs if isinstance(fs, list) else [fs])
                )
                for rate, fs in meta.get("rate_parts", {}).items()
            },
        )

    def rates_on(self, measure: str) -> list[str]:
        """The rates that would give `measure` of their row back: those built on it (`rates`)
        and those worked out from it (`rate_parts`), so hidden wherever it is."""
        return [
            rate
            for rate in self.rates
            if measure in self.rates[rate]
            or measure in self.hidden_with.get(rate, ())
            or any(measure in f.numerator + f.denominator for f in self.rate_parts.get(rate, ()))
        ]

    @property
    def measures(self) -> tuple[str, ...]:
        return self.counts + self.magnitudes + tuple(self.rates)

    @property
    def published_measures(self) -> tuple[str, ...]:
        """The measures the published table holds (all but `unpublished`)."""
        return tuple(c for c in self.measures if c not in self.unpublished)


def omitted_rows(protected: pd.DataFrame, spec: TableSpec) -> np.ndarray:
    """Rows of a protected frame that the publication leaves out (`omit_suppressed_rows`):
    those whose every count is hidden."""
    if not spec.omit_suppressed_rows or not spec.counts or protected.empty:
        return np.zeros(len(protected), dtype=bool)
    return protected[list(spec.counts)].isna().all(axis=1).to_numpy()


def round_to_base(value: float, base: int) -> float:
    """Nearest multiple of base, halves away from zero (so 2.5 -> 5 at base 5)."""
    return math.floor(value / base + 0.5) * base


def round_decimals(values, decimals: int) -> np.ndarray:
    """`values` to `decimals` places, halves away from zero, as counts are rounded to their
    base (0.0625 -> 0.063, 12.25 -> 12.3). numpy's and pandas' round go to the even digit
    (0.0625 -> 0.062), so a planner rounding the same ratio by hand or in a spreadsheet got
    a different figure (found in review, 2026-12-04: six rates of the demo). The scaled
    value is settled to six places first, so a tie that binary floating point holds a
    hair below (247 / 2000 = 0.1235 as 0.12349999...) still rounds up."""
    scale = 10.0 ** int(decimals)
    scaled = np.round(np.asarray(values, dtype="float64") * scale, 6)
    return np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / scale


def is_small(value, k: int) -> bool:
    return value is not None and not pd.isna(value) and 0 < value <= k


def exempt_mask(frame: pd.DataFrame, spec: TableSpec) -> pd.Series:
    mask = pd.Series(False, index=frame.index)
    for column, values in spec.exempt_when.items():
        mask |= frame[column].isin(values)
    return mask


def protect(
    frame: pd.DataFrame,
    spec: TableSpec,
    policy_for,
    withheld: np.ndarray | None = None,
    followed: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Apply the disclosure policy; returns a new frame (index reset) with a `suppressed` column.

    `policy_for(orgs)` gives the Policy for a row about the organisations `orgs` (the values of
    the spec's org_columns, a tuple); it is called once per distinct tuple.

    `withheld` (one flag per row) marks rows the audience may not see at all - about an
    organisation whose agreement does not permit the output. Every measure of theirs counts as
    suppressed, so secondary suppression stops them being recovered from the totals they are
    part of (the system rows include every organisation); the caller then drops them.

    `followed` holds the already protected tables (all rows, withheld ones included) that the
    spec's `follows` name; a rate that would reveal a measure hidden there is hidden here.
    """
    out = frame.reset_index(drop=True).copy()
    n = len(out)
    for col in spec.measures + tuple(spec.unrestricted):
        out[col] = out[col].astype("float64")
    exempt = exempt_mask(out, spec).to_numpy()

    # Each controlled row's policy: the strictest of the organisations it is about.
    k, base = _row_policies(out, spec, exempt, policy_for)

    bases = {b for bs in (*spec.rates.values(), *spec.built_on.values()) for b in bs}
    values = {
        c: out[c].to_numpy(dtype="float64", na_value=np.nan)
        for c in (*spec.measures, *sorted(bases - set(spec.measures)))
    }
    hidden = {c: np.zeros(n, dtype=bool) for c in spec.measures}

    def small(col: str) -> np.ndarray:
        v = values[col]
        return ~exempt & ~np.isnan(v) & (v > 0) & (v <= k)

    # Primary suppression.
    whole_row = small(spec.cell_size) if spec.cell_size else np.zeros(n, dtype=bool)
    if withheld is not None:
        whole_row |= np.asarray(withheld, dtype=bool) & ~exempt
    for col in spec.measures:
        hidden[col] |= whole_row
    for col in spec.counts:
        hidden[col] |= small(col)
    # A rate, or a magnitude about fewer people than the row (built_on), on a small count.
    for col, bases in (*spec.rates.items(), *spec.built_on.items()):
        for b in bases:
            hidden[col] |= small(b)
    for rate, mask in followed_hidden(out, spec, followed or {}).items():
        hidden[rate] |= mask
    for col in spec.counts + spec.magnitudes:
        for rate in spec.rates_on(col):
            hidden[rate] |= hidden[col]

    _secondary(out, spec, exempt, values, hidden, k)

    # Rounding below system level; suppressed cells become NULL (marked in `suppressed`).
    def rounding_base(col: str) -> np.ndarray:
        if col in spec.magnitude_rounding:
            return np.where(exempt, 1.0, float(spec.magnitude_rounding[col]))
        return np.where(exempt, 1.0, base)

    def rounded(v: np.ndarray, col: str) -> np.ndarray:
        if 0 < float(spec.magnitude_rounding.get(col, 1)) < 1:
            # A base below 1 (0.1) is decimals: a magnitude about posts, not people (the
            # establishment), is controlled by suppression, not rounding. System rows stay
            # exact, as every measure's do.
            decimals = round(-math.log10(float(spec.magnitude_rounding[col])))
            return np.where(exempt | np.isnan(v), v, round_decimals(v, decimals))
        col_base = rounding_base(col)
        r = np.floor(v / col_base + 0.5) * col_base
        return np.where(exempt | np.isnan(v) | (v == 0), v, r)

    published: dict[str, np.ndarray] = {}
    for col in spec.counts + spec.magnitudes:
        v = rounded(values[col].copy(), col)
        published[col] = v.copy()
        v[hidden[col]] = np.nan
        out[col] = v
    for col in spec.rates:
        v = values[col].copy()
        v = np.where(exempt, v, round_decimals(v, RATE_DECIMALS))
        if col in spec.rate_parts:
            v = np.where(
                exempt, v, _rate_from_published(out, spec, col, exempt, values, published, rounded)
            )
        v[hidden[col]] = np.nan
        out[col] = v
    for col, decimals in spec.unrestricted.items():
        out[col] = round_decimals(out[col].to_numpy(dtype="float64"), decimals)
    out[SUPPRESSED_COLUMN] = pd.Series(
        suppressed_labels(spec.published_measures, hidden, n), index=out.index, dtype="object"
    )
    return out


def _row_policies(
    frame: pd.DataFrame, spec: TableSpec, exempt: np.ndarray, policy_for
) -> tuple[np.ndarray, np.ndarray]:
    """(suppress_max, round_to) of each row: `policy_for` of the row's org_columns values (as
    text), asked once per distinct tuple of them; 0 and 1 for exempt rows, and for every row
    of a spec with no org_columns.

    The tuples are found by factorising each column, not by a loop over the rows (0.3 s of a
    three-month national publication went on iterating the columns' values in Python)."""
    n = len(frame)
    k = np.zeros(n, dtype="float64")
    base = np.ones(n, dtype="float64")
    if not n or not spec.org_columns:
        return k, base
    combined = np.zeros(n, dtype=np.int64)
    columns = []
    for c in spec.org_columns:
        codes, uniques = pd.factorize(frame[c].astype(str), use_na_sentinel=False)
        columns.append((codes, np.asarray(uniques, dtype=object)))
        combined = combined * len(uniques) + codes
    distinct, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    limits = np.zeros(len(distinct), dtype="float64")
    bases = np.ones(len(distinct), dtype="float64")
    asked = np.zeros(len(distinct), dtype=bool)
    asked[inverse[~exempt]] = True
    for j in np.flatnonzero(asked):
        row = first[j]
        policy = policy_for(tuple(uniques[codes[row]] for codes, uniques in columns))
        limits[j], bases[j] = policy.suppress_max, policy.round_to
    k = np.where(exempt, 0.0, limits[inverse])
    base = np.where(exempt, 1.0, bases[inverse])
    return k, base


def naming(suppressed: pd.Series, measures) -> np.ndarray:
    """Which rows' `suppressed` text names one of `measures`: each distinct text (a few dozen)
    is split once, not every row's."""
    codes, texts = pd.factorize(suppressed.fillna(""))
    wanted = set(measures)
    named = np.array([bool(wanted & set(t.split(","))) for t in texts], dtype=bool)
    return named[codes] if len(texts) else np.zeros(len(suppressed), dtype=bool)


def suppressed_labels(measures: tuple[str, ...], hidden: dict, n: int) -> np.ndarray:
    """Each row's `suppressed` text: its hidden measures, in the spec's order, joined by
    commas ("" when none). Worked out once per distinct combination of hidden measures."""
    pattern = np.zeros(n, dtype=np.int64)
    for i, c in enumerate(measures):
        pattern |= hidden[c].astype(np.int64) << i
    distinct, inverse = np.unique(pattern, return_inverse=True)
    labels = np.array(
        [",".join(c for i, c in enumerate(measures) if int(p) >> i & 1) for p in distinct] or [""],
        dtype=object,
    )
    return labels[inverse.reshape(-1)] if n else np.array([], dtype=object)


def _rate_from_published(
    frame: pd.DataFrame, spec: TableSpec, rate: str, exempt, values, published, rounded
) -> np.ndarray:
    """`rate` below system level worked out again from the rounded cells (RateFormula)."""
    n = len(frame)
    out = np.full(n, np.nan)
    matched = np.zeros(n, dtype=bool)
    exact = values[rate]
    for formula in spec.rate_parts[rate]:
        rows = ~exempt & ~matched
        for column, allowed in formula.where.items():
            rows &= frame[column].isin(allowed).to_numpy()
        if not rows.any():
            continue
        matched |= rows
        num = np.sum([published[c] for c in formula.numerator], axis=0)
        if formula.denominator_total_over:
            keys = list(formula.denominator_total_over)
            total = np.sum(
                [
                    frame[keys]
                    .assign(_v=np.nan_to_num(values[c]))
                    .groupby(keys, dropna=False, sort=False)["_v"]
                    .transform("sum")
                    .to_numpy(dtype="float64")
                    for c in formula.numerator
                ],
                axis=0,
            )
            den = rounded(total, formula.numerator[0])
        else:
            den = formula.denominator_scale * np.sum(
                [published[c] for c in formula.denominator], axis=0
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            r = round_decimals(num / den, RATE_DECIMALS)
        ok = rows & ~np.isnan(exact) & np.isfinite(r)
        out[ok] = r[ok]
    unmatched = ~exempt & ~matched & ~np.isnan(exact)
    if unmatched.any():
        row = frame.iloc[int(np.flatnonzero(unmatched)[0])].to_dict()
        raise ValueError(
            f"the disclosure spec's rate_parts for {rate!r} match no formula for {row}"
        )
    return out


def followed_hidden(
    frame: pd.DataFrame, spec: TableSpec, followed: dict[str, pd.DataFrame]
) -> dict[str, np.ndarray]:
    """For each rate named in the spec's `follows`: the rows where a measure it would reveal
    is hidden in the followed table (protected, with its `suppressed` column)."""
    masks: dict[str, np.ndarray] = {}
    for follow in spec.follows:
        if follow.table not in followed:
            raise ValueError(
                f"the disclosure spec follows table {follow.table!r}, which was not protected"
                " first (published tables are protected in the order their follows need)"
            )
        leader = followed[follow.table]
        rows = np.ones(len(leader), dtype=bool)
        for column, value in follow.where.items():
            values = value if isinstance(value, list | tuple) else [value]
            rows &= leader[column].isin(values).to_numpy()
        leader = leader[rows]
        keys = list(zip(*(frame[c].astype(str) for c in follow.by), strict=True))
        for rate, measures in follow.rates.items():
            hit = leader[naming(leader[SUPPRESSED_COLUMN], measures)]
            hidden_keys = set(
                zip(*(hit[follow.columns.get(c, c)].astype(str) for c in follow.by), strict=True)
            )
            mask = np.fromiter((k in hidden_keys for k in keys), dtype=bool, count=len(keys))
            masks[rate] = masks.get(rate, np.zeros(len(frame), dtype=bool)) | mask
    return masks


def protection_order(specs: dict[str, TableSpec]) -> list[str]:
    """Table names so that every table comes after the tables its spec follows."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"disclosure specs follow each other in a circle at {name!r}")
        visiting.add(name)
        for follow in specs[name].follows:
            if follow.table not in specs:
                raise ValueError(f"{name}'s disclosure spec follows unknown table {follow.table!r}")
            visit(follow.table)
        visiting.discard(name)
        order.append(name)

    for name in sorted(specs):
        visit(name)
    return order


def total_rows_mask(frame: pd.DataFrame, add: Additive) -> np.ndarray:
    if not add.total_where:
        return np.zeros(len(frame), dtype=bool)
    return np.logical_and.reduce(
        [
            frame[c].isin(v if isinstance(v, list | tuple) else [v]).to_numpy()
            for c, v in add.total_where.items()
        ]
    )


def additive_groups(
    frame: pd.DataFrame, add: Additive, exempt: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(member rows, total rows) for each group of an additive relation.

    Members share the values of `group_by`; their total is the row with the same values in
    every group_by column not named in `total_where`, and the `total_where` values (so
    `{level: system}` with group_by [period, dimension, dimension_value] finds the system row
    beside the organisations' rows; `{dimension: total}` with group_by [period, level,
    org_code, dimension] finds the organisation's total row for each breakdown). Exempt rows
    (another level) are members only of groups made of nothing else. An implicit relation
    (no total_where) has no total row here: its total is published elsewhere.
    """
    is_total = total_rows_mask(frame, add)
    keys = list(add.group_by)
    fixed = [c for c in keys if c not in add.total_where]
    totals_by_key: dict = {}
    if add.total_where:
        sub = frame.loc[is_total, fixed] if fixed else None
        positions = np.flatnonzero(is_total)
        if fixed:
            for key, idx in sub.groupby(fixed, dropna=False, sort=False).indices.items():
                totals_by_key[key if isinstance(key, tuple) else (key,)] = positions[
                    np.asarray(idx)
                ]
        else:
            totals_by_key[()] = positions
    out = []
    rest = np.flatnonzero(~is_total)
    grouped = frame.iloc[rest].groupby(keys, dropna=False, sort=False)
    for key, idx in grouped.indices.items():
        key = key if isinstance(key, tuple) else (key,)
        members = rest[np.asarray(idx)]
        if (~exempt[members]).any():
            members = members[~exempt[members]]
        if add.total_where:
            fixed_key = tuple(v for c, v in zip(keys, key, strict=True) if c in fixed)
            totals = totals_by_key.get(fixed_key)
            if totals is None:
                continue  # no published total for this group: nothing to subtract from
        else:
            totals = np.array([], dtype=int)
        out.append((members, totals))
    return out


def copy_groups(frame: pd.DataFrame, spec: TableSpec) -> list[np.ndarray]:
    """Rows (two or more) that are copies of each other under the spec's `copies`."""
    if not spec.copies_of or not len(frame):
        return []
    grouped = frame.groupby(list(spec.copies_of), dropna=False, sort=False).indices
    return [np.asarray(rows) for rows in grouped.values() if len(rows) > 1]


def _secondary(
    frame: pd.DataFrame,
    spec: TableSpec,
    exempt: np.ndarray,
    values: dict,
    hidden: dict,
    k: np.ndarray | None = None,
) -> None:
    """Until no additive relation (members = total) has exactly one suppressed cell, give each
    such relation a second; and until every copy of a hidden cell is hidden (`copies`). A
    relation's cells are its members and its total, so a suppressed total whose members are
    all published counts too: the members would add up to it.

    The second cell is the smallest non-zero remaining member (a zero only if there is no
    other; once suppressed it could be anything). Where there is no other member - the total
    is that one cell - the total is suppressed instead, even at system level."""
    if not spec.additive and not spec.copies_of and not spec.row_identities and not spec.bounded_by:
        return
    k = k if k is not None else np.zeros(len(frame))
    across = {a.across: frame[a.across].astype(str).to_numpy() for a in spec.additive}
    prepared = [(a, additive_groups(frame, a, exempt)) for a in spec.additive]
    copies = copy_groups(frame, spec)
    _settle(spec, exempt, values, hidden, k, across, prepared, copies)
    # The audit (spec.audit): each cell the relations fix gets a further cell hidden beside
    # it, and the pairing above runs again, until no hidden cell is fixed. Each round hides
    # at least one more cell, so it ends.
    for _ in range(len(frame) + 1):
        added = False
        for measure in spec.audit:
            for row in determined_cells(prepared, measure, hidden[measure]):
                partner = _partner(prepared, measure, row, hidden[measure], values[measure])
                if partner is not None:
                    _suppress_linked(spec, hidden, partner, measure)
                    added = True
        if not added:
            break
        _settle(spec, exempt, values, hidden, k, across, prepared, copies)


def determined_cells(prepared, measure: str, hidden: np.ndarray) -> list[int]:
    """Hidden cells of `measure` that its additive relations, taken all at once, fix: the
    published cells known, each relation (members less total = 0) an equation in the hidden
    ones, a hidden cell is fixed when its unit vector lies in the equations' row space (no
    solution of the homogeneous system moves it). Solved per connected set of relations."""
    eqs: list[tuple[np.ndarray, np.ndarray]] = []  # (hidden cells, coefficients)
    for add, groups in prepared:
        if measure not in add.measures:
            continue
        for members, totals in groups:
            if not len(totals):
                continue
            cells = np.concatenate([members, totals])
            coef = np.concatenate([np.ones(len(members)), -np.ones(len(totals)) / len(totals)])
            keep = hidden[cells]
            if keep.any():
                eqs.append((cells[keep], coef[keep]))
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for cells, _ in eqs:
        for c in cells[1:]:
            parent[find(int(c))] = find(int(cells[0]))
    components: dict[int, list] = {}
    for eq in eqs:
        components.setdefault(find(int(eq[0][0])), []).append(eq)
    fixed: list[int] = []
    for comp in components.values():
        unknowns = sorted({int(c) for cells, _ in comp for c in cells})
        col = {c: j for j, c in enumerate(unknowns)}
        a = np.zeros((len(comp), len(unknowns)))
        for i, (cells, coef) in enumerate(comp):
            for c, v in zip(cells, coef, strict=True):
                a[i, col[int(c)]] += v
        _, sv, vt = np.linalg.svd(a)
        rank = int(np.sum(sv > 1e-9 * max(1.0, sv.max(initial=0.0))))
        null = vt[rank:]
        for c, j in col.items():
            if not len(null) or np.abs(null[:, j]).max() < 1e-9:
                fixed.append(c)
    return sorted(fixed)


def _partner(prepared, measure: str, row: int, hidden: np.ndarray, values: np.ndarray):
    """The published member (not a total) sharing a relation with `row` to hide beside it:
    the smallest non-zero one, else any; None if every cell it shares is hidden."""
    best = None
    for add, groups in prepared:
        if measure not in add.measures:
            continue
        for members, totals in groups:
            if row not in members and row not in totals:
                continue
            for c in members:
                if hidden[c] or c == row:
                    continue
                v = np.nan_to_num(values[c], nan=np.inf)
                key = (v == 0, v, int(c))
                if best is None or key < best[0]:
                    best = (key, int(c))
    return None if best is None else best[1]


def _settle(spec, exempt, values, hidden, k, across, prepared, copies) -> None:
    """Secondary suppression's pairing (see _secondary), until nothing changes."""
    changed = True
    while changed:
        changed = False
        for cell, bound in spec.bounded_by.items():
            for r in np.flatnonzero(hidden[cell] & ~hidden[bound] & (values[bound] == 0)):
                _suppress_linked(spec, hidden, r, bound)
                changed = True
        for identity in spec.row_identities:
            stack = np.column_stack([hidden[c] for c in identity])
            for r in np.flatnonzero(stack.sum(axis=1) == 1):
                # Hide the smallest other cell of the row's identity (a zero too: a hidden
                # zero still leaves the first cell unknown).
                others = [c for c in identity if not hidden[c][r]]
                v = [np.nan_to_num(values[c][r], nan=np.inf) for c in others]
                _suppress_linked(spec, hidden, r, others[int(np.argmin(v))])
                changed = True
        for rows in copies:
            for measure in spec.copy_measures:
                h = hidden[measure][rows]
                if h.any() and not h.all():
                    for r in rows[~h]:
                        _suppress_linked(spec, hidden, r, measure)
                    changed = True
        for add, groups in prepared:
            for members, totals in groups:
                for measure in add.measures:
                    h = hidden[measure]
                    total_hidden = bool(len(totals)) and h[totals].any()
                    if total_hidden and not h[totals].all():
                        # Two rows for one total: hiding one would leave it in the other.
                        for t in totals:
                            _suppress_linked(spec, hidden, t, measure)
                        changed = True
                    if (
                        measure in spec.counts + spec.magnitudes
                        and len(totals)
                        and not total_hidden
                        and exempt[totals].all()
                    ):
                        # An exact total (the system's) whose published members are all 0
                        # (exact) is the exact sum of the hidden ones; a small one pins them:
                        # every hidden cell is at least 1, so a total of 2 over two hidden
                        # cells makes each 1. Found in review: 395 cells of the demo pinned
                        # so. The total is hidden too (and so for the FTE or days of so few
                        # people). Where a published member is rounded, its rounding keeps
                        # the hidden sum uncertain, as everywhere below system level.
                        hid = members[h[members]]
                        shown = members[~h[members]]
                        small = np.nansum(values[measure][hid]) if len(hid) else 0
                        exact_rest = not np.nan_to_num(values[measure][shown]).any()
                        # A hidden sum of 0 counts too: cells hidden with their row (its
                        # people 1..k) can be 0, and an exact total of 0 then gives each
                        # back as 0 - a rate of 0 on one person (found in review: sickness
                        # OTHER_UNKNOWN, five organisations).
                        if len(hid) and exact_rest and small <= k[hid].max():
                            for t in totals:
                                _suppress_linked(spec, hidden, t, measure)
                            total_hidden = True
                            changed = True
                    if np.count_nonzero(h[members]) + total_hidden != 1:
                        continue
                    candidates = members[~h[members]]
                    if len(candidates):
                        v = np.nan_to_num(values[measure][candidates], nan=np.inf)
                        # A zero beside its bound shown as 0 (bounded_by) is known: last.
                        bound = spec.bounded_by.get(measure)
                        known = (
                            ~hidden[bound][candidates] & (values[bound][candidates] == 0)
                            if bound
                            else np.zeros(len(candidates), dtype=bool)
                        )
                        order = sorted(
                            range(len(candidates)),
                            key=lambda j: (
                                v[j] == 0,
                                bool(known[j]),
                                v[j],
                                across[add.across][candidates[j]],
                            ),
                        )
                        _suppress_linked(spec, hidden, candidates[order[0]], measure)
                        changed = True
                    elif len(totals):
                        for t in totals:
                            _suppress_linked(spec, hidden, t, measure)
                        changed = True


def _suppress_linked(spec: TableSpec, hidden: dict, row: int, measure: str) -> None:
    """Suppress `measure` and every rate built on it in the same row."""
    hidden[measure][row] = True
    for rate in spec.rates_on(measure):
        hidden[rate][row] = True
