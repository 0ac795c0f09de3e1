"""An attacker who tries to recover suppressed cells from a publication (test helper).

The attacker has what a planner has: every published table, the disclosure policy of each
organisation (the data dictionary lists it) and the additive relations between cells (the
documentation says which cells add up to which totals). From these they know, for every
cell of a measure:
- a system-level (exempt) cell exactly;
- an organisation-level count published as 0 is exactly 0; any other published cell lies
  within half a rounding base of its published value;
- a suppressed cell is somewhere in [0, infinity);
and every group of cells sums to its total (the total itself possibly suppressed). Combining
every relation of the table at once (organisation x breakdown, in both directions), they
solve two linear programmes per suppressed cell - its least and greatest possible value.
The cell is recovered when that interval holds a single whole number (a count) or has no
width (a magnitude), other than 0: zeros are published as they are under the rule, and a
cell pinned at 0 is one whose published total is 0 (a system-level fact, published exactly). This goes well beyond "total minus the other cells", which is its
simplest case.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from pipelines.publish.disclosure import SUPPRESSED_COLUMN, TableSpec, exempt_mask


def hidden_mask(published: pd.DataFrame, measure: str) -> np.ndarray:
    return (
        published[SUPPRESSED_COLUMN]
        .fillna("")
        .str.split(",")
        .apply(lambda c: measure in c)
        .to_numpy()
    )


def _relations(
    published: pd.DataFrame, spec: TableSpec, measure: str
) -> list[list[tuple[int, float]]]:
    """Each group with a total row: [(member, +1)..., (total, -1)...] summing to 0."""
    exempt = exempt_mask(published, spec).to_numpy()
    out = []
    for add in spec.additive:
        if measure not in add.measures or not add.total_where:
            continue
        keys = list(add.group_by)
        cols = keys + [c for c in add.total_where if c not in keys]
        groups: dict[tuple, list[int]] = {}
        totals: dict[tuple, list[int]] = {}
        for i, row in enumerate(published[cols].itertuples(index=False)):
            values = dict(zip(cols, row, strict=True))
            is_total = all(
                values[c] in (v if isinstance(v, list | tuple) else [v])
                for c, v in add.total_where.items()
            )
            if is_total:
                totals.setdefault(
                    tuple(values[c] for c in keys if c not in add.total_where), []
                ).append(i)
            else:
                groups.setdefault(tuple(values[c] for c in keys), []).append(i)
        for key, rows in groups.items():
            fixed = tuple(v for c, v in zip(keys, key, strict=True) if c not in add.total_where)
            total = totals.get(fixed)
            if not total:
                continue
            members = [i for i in rows if not exempt[i]] or rows
            out.append([(i, 1.0) for i in members] + [(t, -1.0) for t in total])
    return out


def _copy_relations(
    published: pd.DataFrame, spec: TableSpec, measure: str
) -> list[list[tuple[int, float]]]:
    """Each pair of copies of a cell (the spec's `copies`): [(first, +1), (other, -1)], equal."""
    if measure not in spec.copy_measures or not spec.copies_of:
        return []
    grouped = published.groupby(list(spec.copies_of), dropna=False, sort=False).indices
    return [
        [(int(rows[0]), 1.0), (int(other), -1.0)] for rows in grouped.values() for other in rows[1:]
    ]


def recovered_cells(
    published: pd.DataFrame,
    spec: TableSpec,
    policy_of,
    *,
    limit: int | None = None,
    at_least: frozenset[str] = frozenset(),
    within: float = 0.0,
) -> list[tuple[int, str, float, float]]:
    """Suppressed cells the attacker pins down: (row, measure, least, greatest).

    A magnitude counts as recovered when its interval is narrower than `within` either side
    of a point (0: a single value). Measures in `at_least` add up only approximately - distinct people: someone in two
    organisations or groups counts once in the total - so for them the attacker knows only
    that the cells add up to at least the total.
    """
    exempt = exempt_mask(published, spec).to_numpy()
    found = []
    measures = sorted(
        ({m for a in spec.additive for m in a.measures} | set(spec.copy_measures))
        - set(spec.unpublished)  # the attacker has only what is published
    )
    tried = 0
    for measure in measures:
        hidden = hidden_mask(published, measure)
        copies = _copy_relations(published, spec, measure)
        relations = _relations(published, spec, measure) + copies
        exact = {id(rel) for rel in copies}  # copies are equal even for distinct people
        parent: dict[int, int] = {}
        for rel in relations:
            for cell, _ in rel[1:]:
                parent[_find(parent, cell)] = _find(parent, rel[0][0])
        components: dict[int, list] = {}
        for rel in relations:
            components.setdefault(_find(parent, rel[0][0]), []).append(rel)
        for rels in components.values():
            cells = sorted({c for rel in rels for c, _ in rel})
            targets = [c for c in cells if hidden[c]]
            if not targets:
                continue
            col = {c: j for j, c in enumerate(cells)}

            def matrix(relations, col=col, cells=cells):
                rows, cols, coefs = [], [], []
                for r, rel in enumerate(relations):
                    for c, coef in rel:
                        rows.append(r)
                        cols.append(col[c])
                        coefs.append(coef)
                shape = (len(relations), len(cells))
                return coo_matrix((coefs, (rows, cols)), shape=shape).tocsr()

            equal = [rel for rel in rels if id(rel) in exact]
            summed = [rel for rel in rels if id(rel) not in exact]
            bounds = [
                _bounds(published, spec, policy_of, measure, c, hidden[c], exempt[c]) for c in cells
            ]
            for c in targets:
                if limit is not None and tried >= limit:
                    return found
                tried += 1
                objective = np.zeros(len(cells))
                objective[col[c]] = 1.0
                if measure in at_least:  # sum(members) - total >= 0; copies equal
                    system = {"A_ub": -matrix(summed), "b_ub": np.zeros(len(summed))}
                    if equal:
                        system |= {"A_eq": matrix(equal), "b_eq": np.zeros(len(equal))}
                    if not summed:
                        system = {"A_eq": matrix(equal), "b_eq": np.zeros(len(equal))}
                else:
                    system = {"A_eq": matrix(rels), "b_eq": np.zeros(len(rels))}
                low = linprog(objective, bounds=bounds, method="highs", **system)
                high = linprog(-objective, bounds=bounds, method="highs", **system)
                if low.status == 2 or high.status == 2:
                    raise AssertionError(
                        f"{measure}: the published cells and totals are inconsistent near row {c}"
                    )
                if high.status == 3:  # unbounded above: nothing learnt
                    continue
                lo, hi = low.fun, -high.fun
                if measure in spec.counts:
                    pinned = math.floor(hi + 1e-6) == math.ceil(lo - 1e-6)
                else:  # a magnitude: pinned to a point, or to `within` either side of one
                    pinned = hi - lo < 1e-6 + 2 * within
                if pinned and hi > 0.5:  # learning that a cell is 0 is not a disclosure: 0 stays 0
                    found.append((c, measure, lo, hi))
    return found


def _find(parent: dict[int, int], x: int) -> int:
    """Union-find root of x (path halving)."""
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _bounds(published, spec, policy_of, measure, row, hidden, exempt):
    if hidden:
        return (0, None)
    value = float(published.at[row, measure])
    if exempt:
        return (value, value)
    if value == 0 and measure in spec.counts:
        return (0, 0)
    orgs = tuple(str(published.at[row, c]) for c in spec.org_columns)
    base = spec.magnitude_rounding.get(measure, policy_of(orgs).round_to)
    return (max(0.0, value - base / 2), value + base / 2)


def primary_rule_violations(
    original: pd.DataFrame, published: pd.DataFrame, spec: TableSpec, policy_of
) -> list[str]:
    """Every controlled cell must be: suppressed (NULL and named), 0 (if it was 0), or a
    multiple of the row's rounding base that was not 1..k; a rate on a 1..k count, and a
    magnitude about 1..k people (`built_on`), suppressed; system-level cells exact unless
    suppressed."""
    problems = []
    exempt = exempt_mask(original, spec).to_numpy()
    hidden = {m: hidden_mask(published, m) for m in spec.published_measures}
    for i in range(len(original)):
        orgs = tuple(str(original.at[i, c]) for c in spec.org_columns)
        policy = policy_of(orgs)
        k = policy.suppress_max
        for col in spec.published_measures:
            orig, pub = original.at[i, col], published.at[i, col]
            where = f"row {i} {orgs} {col}: original {orig}, published {pub}"
            if hidden[col][i]:
                if not pd.isna(pub):
                    problems.append(f"{where}: marked suppressed but has a value")
                continue
            if exempt[i]:
                if not (pd.isna(orig) and pd.isna(pub)) and not np.isclose(
                    float(orig), float(pub), atol=1e-6
                ):
                    problems.append(f"{where}: system-level value changed")
                continue
            if col in spec.counts and not pd.isna(orig) and 0 < orig <= k:
                problems.append(f"{where}: small count published")
            if (
                spec.cell_size
                and not pd.isna(original.at[i, spec.cell_size])
                and 0 < original.at[i, spec.cell_size] <= k
            ):
                problems.append(
                    f"{where}: cell of {original.at[i, spec.cell_size]} people published"
                )
            if col in spec.built_on and any(
                0 < original.at[i, b] <= k
                for b in spec.built_on[col]
                if not pd.isna(original.at[i, b])
            ):
                problems.append(f"{where}: magnitude about a small count of people published")
            if col in spec.rates:
                if any(
                    0 < original.at[i, b] <= k
                    for b in spec.rates[col]
                    if not pd.isna(original.at[i, b])
                ):
                    problems.append(f"{where}: rate on a small count published")
                continue
            if pd.isna(pub):
                if not pd.isna(orig):
                    problems.append(f"{where}: blank but not marked")
                continue
            base = spec.magnitude_rounding.get(col, policy.round_to)
            if pub != 0 and abs(pub / base - round(pub / base)) > 1e-9:
                problems.append(f"{where}: not a multiple of {base}")
            if pub == 0 and orig != 0 and abs(orig) >= base / 2:
                problems.append(f"{where}: rounded to 0 from {orig}")
            if abs(pub - orig) > base / 2 + 1e-9:
                problems.append(f"{where}: rounded too far")
    return problems
