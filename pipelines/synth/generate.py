"""Generate a synthetic system: configuration, simulation, files, manifest.

Library API:
    cfg = sample_system()                       # the governance sample, 24 months
    result = generate(cfg, Path("var/synth"))   # extracts/, truth/, manifest.json
    cfg = national_month()                      # ~220 NHS trusts, ~1.5 million rows, 1 month

The same configuration and seed always give byte-identical files: nothing in the output
depends on the clock, the machine or dictionary order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.errors import OwfError
from pipelines.standard import load_standard
from pipelines.synth.extracts import ESR_COLUMNS, ExtractBuilder
from pipelines.synth.params import Params
from pipelines.synth.simulate import OrgSpec, World, add_months

GENERATOR_VERSION = "1"

# Default headcount by kind for the sample system: small enough for a quick demo, in the
# proportions of a real system (acute trusts largest, GP practices a few dozen staff).
SAMPLE_HEADCOUNT = {
    "acute_trust": 1200,
    "mental_health_trust": 700,
    "community_trust": 500,
    "ambulance_trust": 450,
    "gp_practice": 25,
    "primary_care_network": 35,
    "local_authority": 260,
    "social_care_provider": 140,
    "hospice": 110,
    "voluntary_organisation": 60,
}
SAMPLE_OVERRIDES = {"RW1": 1400, "RW2": 900}


@dataclass(frozen=True)
class SynthConfig:
    organisations: tuple[OrgSpec, ...]
    seed: int = 20261124
    first_period: str = "2024-11"
    months: int = 24
    params: Params = field(default_factory=Params)
    esr_layout: bool = True
    # Organisations of these kinds hold an age band, not a date of birth.
    age_band_only_kinds: tuple[str, ...] = ("social_care_provider", "hospice")

    @property
    def periods(self) -> list[str]:
        return [add_months(self.first_period, k) for k in range(self.months)]

    def describe(self) -> dict:
        d = asdict(self)
        d["organisations"] = [asdict(o) for o in self.organisations]
        return d


@dataclass
class SynthResult:
    out_dir: Path
    files: dict[str, int]  # relative path -> data rows
    rows_by_org: dict[str, dict[str, int]]
    seconds: float
    digest: str

    @property
    def extracts_dir(self) -> Path:
        return self.out_dir / "extracts"

    @property
    def truth_dir(self) -> Path:
        return self.out_dir / "truth"


def sample_system(
    months: int = 24,
    seed: int = 20261124,
    first_period: str = "2024-11",
    governance_dir: Path | None = None,
) -> SynthConfig:
    """The sample system of governance/ (every organisation but the hub operator)."""
    from pipelines.governance import load_governance

    gov = load_governance(governance_dir)
    orgs = tuple(
        OrgSpec(
            o.ods_code,
            o.name,
            o.sector,
            o.kind,
            SAMPLE_OVERRIDES.get(o.ods_code, SAMPLE_HEADCOUNT[o.kind]),
        )
        for o in gov.providers()
    )
    return SynthConfig(orgs, seed=seed, first_period=first_period, months=months)


def national_month(
    seed: int = 20261124,
    period: str = "2026-09",
    organisations: int = 220,
    target_rows: int = 1_500_000,
) -> SynthConfig:
    """A national-scale month: NHS trusts of every kind, sized to ~target_rows staff in post."""
    rng = np.random.default_rng(seed)
    kinds = (
        ["acute_trust"] * 130
        + ["mental_health_trust"] * 50
        + ["community_trust"] * 25
        + ["ambulance_trust"] * 15
    )
    kinds = (kinds * (organisations // len(kinds) + 1))[:organisations]
    weight = {
        "acute_trust": 1.6,
        "mental_health_trust": 0.75,
        "community_trust": 0.55,
        "ambulance_trust": 0.9,
    }
    raw = np.array([weight[k] for k in kinds]) * rng.lognormal(0, 0.35, organisations)
    # Second assignments add about 4% rows over people.
    people = target_rows / 1.04
    sizes = np.maximum(20, np.round(raw / raw.sum() * people)).astype(int)
    orgs = tuple(
        OrgSpec(f"N{i + 1:04d}", f"National trust {i + 1}", "NHS_TRUST", k, int(n))
        for i, (k, n) in enumerate(zip(kinds, sizes, strict=True))
    )
    return SynthConfig(orgs, seed=seed, first_period=period, months=1, esr_layout=False)


def scaled(config: SynthConfig, factor: float) -> SynthConfig:
    orgs = tuple(
        replace(o, headcount=max(5, round(o.headcount * factor))) for o in config.organisations
    )
    return replace(config, organisations=orgs)


def _write_csv(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=True, quoting_style="needed"))


def _write_split(
    table: pa.Table,
    out: Path,
    prefix: str,
    periods: list[str],
    orgs: list[str],
    files: dict[str, int],
    rows_by_org: dict,
    org_col: str = "org_code",
    period_col: str = "period",
    period_fmt: Callable[[str], str] = lambda p: p,
) -> None:
    """One file per organisation and period (header-only where there were no rows)."""
    org = np.asarray(table.column(org_col).to_numpy(zero_copy_only=False), dtype=object).astype(str)
    per = np.asarray(table.column(period_col).to_numpy(zero_copy_only=False), dtype=object).astype(
        str
    )
    order = np.lexsort((per, org))
    table = table.take(pa.array(order))
    org, per = org[order], per[order]
    key = np.char.add(np.char.add(org, "|"), per)
    bounds = {}
    if key.size:
        change = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[change[1:], key.size]
        bounds = {key[s]: (s, e) for s, e in zip(change, ends, strict=True)}
    for o in orgs:
        folder = out / o
        folder.mkdir(parents=True, exist_ok=True)
        for p in periods:
            s, e = bounds.get(f"{o}|{period_fmt(p)}", (0, 0))
            path = folder / f"{prefix}_{o}_{p}.csv"
            _write_csv(table.slice(s, e - s), path)
            rel = str(path.relative_to(out.parent))
            files[rel] = int(e - s)
            rows_by_org.setdefault(o, {}).setdefault(prefix, 0)
            rows_by_org[o][prefix] += int(e - s)


def generate(
    config: SynthConfig, out_dir: Path | str, progress: Callable[[str], None] | None = None
) -> SynthResult:
    """Simulate the system and write extracts, ground truth and a manifest to out_dir."""
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as exc:
        raise OwfError(f"cannot write synthetic data to {out}: {exc.strerror}") from None
    std = load_standard()
    world = World(std, list(config.organisations), config.params, config.seed)
    periods = config.periods
    say(
        f"simulating {len(config.organisations)} organisations,"
        f" {sum(o.headcount for o in config.organisations):,} people, {len(periods)} months"
    )
    world.initial_population(periods[0])
    for m, period in enumerate(periods):
        world.step(m, period)
    say(f"simulated in {time.monotonic() - started:.1f}s; writing extracts")

    builder = ExtractBuilder(world, periods, config.age_band_only_kinds)
    extracts_dir = out / "extracts"
    org_codes = [o.ods_code for o in config.organisations]
    files: dict[str, int] = {}
    rows_by_org: dict[str, dict[str, int]] = {}
    sip = builder.staff_in_post()
    _write_split(sip, extracts_dir, "staff_in_post", periods, org_codes, files, rows_by_org)
    if config.esr_layout:
        nhs = [o.ods_code for o in config.organisations if o.sector == "NHS_TRUST"]
        if nhs:
            esr = builder.esr_staff_in_post(sip)
            assert esr.column_names == ESR_COLUMNS
            _write_split(
                esr,
                extracts_dir,
                "esr_staff_in_post",
                periods,
                nhs,
                files,
                {},
                org_col="Org Code",
                period_col="Tm Year Month",
                period_fmt=lambda p: p.replace("-", "/"),
            )
    del sip
    _write_split(builder.leavers(), extracts_dir, "leavers", periods, org_codes, files, rows_by_org)
    _write_split(
        builder.sickness_absence(),
        extracts_dir,
        "sickness_absence",
        periods,
        org_codes,
        files,
        rows_by_org,
    )
    vacancies, temporary = builder.vacancies_and_temporary_staffing()
    _write_split(vacancies, extracts_dir, "vacancies", periods, org_codes, files, rows_by_org)
    _write_split(
        temporary, extracts_dir, "temporary_staffing", periods, org_codes, files, rows_by_org
    )

    say("writing ground truth")
    truth_dir = out / "truth"
    truth_dir.mkdir(exist_ok=True)
    for name, table in builder.truth().items():
        pq.write_table(table, truth_dir / f"{name}.parquet", compression="zstd")

    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode())
        digest.update((out / rel).read_bytes())
    manifest = {
        "generator": "owf synth",
        "generator_version": GENERATOR_VERSION,
        "standard_version": std.version,
        "config": config.describe(),
        "periods": periods,
        "files": {rel: {"rows": n} for rel, n in sorted(files.items())},
        "rows_by_org": rows_by_org,
        "content_sha256": digest.hexdigest(),
        "truth": sorted(p.name for p in truth_dir.glob("*.parquet")),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    seconds = time.monotonic() - started
    say(f"wrote {len(files):,} files ({sum(files.values()):,} rows) in {seconds:.1f}s")
    return SynthResult(out, files, rows_by_org, seconds, digest.hexdigest())
