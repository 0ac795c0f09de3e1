"""Set up a hub and its organisations on one machine: for the demo, the tests and `owf hub init`.

In a real system each organisation generates its own signing key on its own machine and sends
only the public half; here every party lives under one folder:

    <root>/hub/                      the hub (HubPaths), with its own governance/ registry
    <root>/orgs/<ORG>/keys/          <ORG>-signing.key, system-pseudonymisation.key, hub-encryption.pub
    <root>/orgs/<ORG>/outbox/        packages and receipts made by `owf submit prepare`

Keys are generated at run time; none is ever committed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.crypto import keys as kf
from pipelines.crypto.encryption import generate_encryption_key
from pipelines.crypto.signing import generate_signing_key, public_key_b64
from pipelines.errors import OwfError
from pipelines.hub.home import HubPaths
from pipelines.paths import PROJECT_ROOT


@dataclass(frozen=True)
class Layout:
    root: Path
    hub: HubPaths

    def org_dir(self, org: str) -> Path:
        return self.root / "orgs" / org

    def org_keys(self, org: str) -> Path:
        return self.org_dir(org) / "keys"

    def org_outbox(self, org: str) -> Path:
        return self.org_dir(org) / "outbox"


def init_hub(hub_root: Path, governance_src: Path | None = None, epoch: int = 1) -> HubPaths:
    """A hub folder with its keys and a copy of the governance registry (if it has none).
    Run again after being cut short, it finishes: the registry is copied to a folder beside it
    and renamed into place whole, and a public key missing beside its private key is written
    from it. (Found in review: a copy cut short was kept, and a rerun skipped both halves of
    the encryption key pair if the private one existed, leaving no public key to hand out.)"""
    paths = HubPaths.at(hub_root, hub_root / "governance")
    lost = paths.keys_lost()
    if lost:
        raise OwfError(lost)
    paths.ensure()
    if not paths.governance.exists():
        copying = paths.governance.with_name(".governance.copying")
        shutil.rmtree(copying, ignore_errors=True)
        shutil.copytree(governance_src or PROJECT_ROOT / "governance", copying)
        os.replace(copying, paths.governance)
    public = paths.keys / "hub-encryption.pub"
    if not paths.hub_encryption_key.exists():
        key = generate_encryption_key()
        kf.write_private_key(paths.hub_encryption_key, key)
        kf.write_public_key(public, key.public_key(), "hub")
    elif not public.exists():
        private = kf.load_encryption_private_key(paths.hub_encryption_key)
        kf.write_public_key(public, private.public_key(), "hub")
    if not paths.hub_pseudonymisation_key.exists():
        kf.write_symmetric_key(
            paths.hub_pseudonymisation_key, kf.generate_symmetric_key(kf.HUB_KEY, epoch)
        )
    return paths


def bootstrap(
    root: Path, orgs: list[str], governance_src: Path | None = None, today: dt.date | None = None
) -> Layout:
    """A hub plus, for each organisation, a signing key registered with the hub."""
    from pipelines.crypto.pseudonymise import system_key_check
    from pipelines.submission.prepare import register_signing_key, register_system_key

    today = today or dt.date.today()
    root = Path(root)
    paths = init_hub(root / "hub", governance_src)
    layout = Layout(root, paths)
    system_key = (
        root / "system-pseudonymisation.key"
    )  # held by the hub operator, given to each organisation
    if not system_key.exists():
        kf.write_symmetric_key(system_key, kf.generate_symmetric_key(kf.SYSTEM_KEY, 1))
    system = kf.load_symmetric_key(system_key, kf.SYSTEM_KEY)
    register_system_key(paths.governance, system.epoch, system_key_check(system.key))
    for org in orgs:
        keys = layout.org_keys(org)
        if (keys / f"{org}-signing.key").exists():
            continue
        signing = generate_signing_key()
        kf.write_private_key(keys / f"{org}-signing.key", signing)
        kf.write_public_key(
            keys / f"{org}-signing.pub", signing.public_key(), f"{org}-{today:%Y%m%d}"
        )
        shutil.copyfile(system_key, keys / "system-pseudonymisation.key")
        (keys / "system-pseudonymisation.key").chmod(0o600)
        shutil.copyfile(paths.keys / "hub-encryption.pub", keys / "hub-encryption.pub")
        register_signing_key(
            paths.governance,
            org,
            public_key_b64(signing.public_key()),
            f"{org}-{today:%Y%m%d}",
            today - dt.timedelta(days=1),
            today + dt.timedelta(days=730),
        )
    return layout


@dataclass
class Prepared:
    org: str
    extract: str
    period: str
    status: str  # packaged | refused
    package: Path | None
    receipt: Path | None
    reason: str | None


def _prepare_org(args) -> list[Prepared]:
    """Every extract and period of one organisation, on that organisation's 'machine'."""
    layout, org, extracts_dir, periods, extracts, governance, esr = args
    import duckdb

    from pipelines.governance import load_governance
    from pipelines.submission.prepare import key_paths, load_submission_keys, run_submission

    gov = load_governance(governance)
    keys = load_submission_keys(key_paths(layout.org_keys(org), org, None, None, None))
    covered = {e for a in gov.agreements_for(org) for e in a.extracts}
    con = duckdb.connect()
    out: list[Prepared] = []
    for period in periods:
        for extract in extracts:
            if extract not in covered:
                continue  # an analyst only prepares what the organisation's agreement covers
            src = Path(extracts_dir) / org / f"{extract}_{org}_{period}.csv"
            profile = None
            esr_src = Path(extracts_dir) / org / f"esr_{extract}_{org}_{period}.csv"
            if esr and esr_src.exists():
                src, profile = esr_src, "esr_staff_in_post"
            if not src.exists():
                continue
            o = run_submission(
                src,
                org=org,
                extract=extract,
                period=period,
                profile=profile,
                governance=gov,
                keys=keys,
                out_dir=layout.org_outbox(org),
                con=con,
            )
            reason = None if o.ok else (o.findings[0].rule if o.findings else "refused")
            out.append(
                Prepared(
                    org,
                    extract,
                    period,
                    "packaged" if o.ok else "refused",
                    o.package_path,
                    o.receipt_path,
                    reason,
                )
            )
    con.close()
    return out


def prepare_packages(
    layout: Layout,
    extracts_dir: Path,
    orgs: list[str],
    periods: list[str],
    extracts: list[str],
    *,
    governance_for: dict[str, Path] | None = None,
    esr_for_nhs: bool = True,
    workers: int = 2,
) -> list[Prepared]:
    """Each organisation runs `owf submit prepare` over its extracts (organisations in parallel)."""
    from concurrent.futures import ProcessPoolExecutor

    governance_for = governance_for or {}
    jobs = [
        (
            layout,
            org,
            str(extracts_dir),
            periods,
            extracts,
            governance_for.get(org, layout.hub.governance),
            esr_for_nhs,
        )
        for org in orgs
    ]
    results: list[Prepared] = []
    if workers <= 1:
        for j in jobs:
            results += _prepare_org(j)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_prepare_org, jobs):
                results += part
    return results


def deliver(prepared: list[Prepared], inbox: Path) -> int:
    """Drop the packages into the hub's inbox (write, then rename, as a transfer would)."""
    import os

    n = 0
    for p in prepared:
        if p.package is None:
            continue
        tmp = inbox / f".{p.package.name}.part"
        shutil.copyfile(p.package, tmp)
        os.replace(tmp, inbox / p.package.name)
        n += 1
    return n
