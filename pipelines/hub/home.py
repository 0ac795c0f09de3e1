"""The hub's folders and files, in one place.

    <hub>/inbox/                     packages arrive here (organisations, or the demo)
    <hub>/quarantine/<ORG>/          packages that failed validation, kept (encrypted) for release
    <hub>/refused/<ORG>/             packages refused for governance or cryptographic reasons
    <hub>/receipts/<ORG>/            one receipt per package: accepted, quarantined, refused ...
    <hub>/warehouse.duckdb           raw.* (landed submissions), audit.*, and the dbt models
    <hub>/warehouse.lock             held while anything writes the warehouse
    <hub>/audit-head.json            the latest audit row's hash, to detect a truncated log
    <hub>/keys/                      hub-encryption.key, hub-pseudonymisation.key (0600)
    <hub>/tmp/                       private scratch space (0700), emptied after every run
    <hub>/filing/                    ingestion's journal of file moves and receipts still to do
                                     for decisions it has committed (empty between runs)
    <hub>/disclosure-cache/          published tables' controlled cells by month, for the next
                                     publication to carry forward (pipelines.publish.carry)

Accepted packages are deleted once landed: they hold stage-1 pseudonyms, which the hub must
not keep (DESIGN: only stage-2 pseudonyms are persisted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import OwfError
from pipelines.paths import governance_dir, owf_home


@dataclass(frozen=True)
class HubPaths:
    root: Path
    governance: Path

    @classmethod
    def default(cls) -> HubPaths:
        """$OWF_HUB, else $OWF_HOME/hub, else var/hub in the project; see `at` for the
        governance folder."""
        return cls.at(os.environ.get("OWF_HUB", owf_home() / "hub"))

    @classmethod
    def at(cls, root: Path | str, governance: Path | str | None = None) -> HubPaths:
        """A hub at `root`. Its registry is `governance` if given, else the hub's own
        <root>/governance (made by `owf hub init`), else $OWF_GOVERNANCE or the project's.
        Paths are made absolute: dbt runs in the dbt project's folder, so a relative
        `--hub var/hub` would otherwise point somewhere else."""
        root = Path(root).absolute()
        if governance:
            return cls(root, Path(governance).absolute())
        own = root / "governance"
        return cls(root, own if (own / "organisations.yaml").exists() else governance_dir())

    @classmethod
    def given(cls, root: Path | str | None, *, exists: bool = False) -> HubPaths:
        """The hub a command's --hub names (default: `default`). With `exists`, one must
        already be set up there (its key made by `owf hub init`): a mistyped --hub must not
        get a new, empty hub, without keys or registry, made for it."""
        paths = cls.at(root) if root else cls.default()
        if exists and not paths.hub_encryption_key.exists():
            lost = paths.keys_lost()
            if lost:
                raise OwfError(lost)
            raise OwfError(
                f"no hub at {paths.root} (it has no {paths.hub_encryption_key.name}): give"
                f" --hub the hub's folder, or set a hub up there with `owf hub init --hub"
                f" {paths.root}`."
            )
        return paths

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def refused(self) -> Path:
        return self.root / "refused"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def lock(self) -> Path:
        return self.root / "warehouse.lock"

    @property
    def audit_head(self) -> Path:
        return self.root / "audit-head.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def filing(self) -> Path:
        """Journals of committed decisions whose files and receipts are still to be done."""
        return self.root / "filing"

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder for this hub's builds (compiled SQL, run results, and the
        partial-parse state, which is only reusable by builds against the same warehouse)."""
        return self.root / "dbt-target"

    @property
    def disclosure_cache(self) -> Path:
        """Each published table's controlled cells by month, kept for the next publication
        (pipelines.publish.carry): only what was controlled, never record-level data."""
        return self.root / "disclosure-cache"

    @property
    def hub_encryption_key(self) -> Path:
        return self.keys / "hub-encryption.key"

    @property
    def hub_pseudonymisation_key(self) -> Path:
        return self.keys / "hub-pseudonymisation.key"

    def holds_data(self) -> bool:
        """True once the hub has landed anything: its warehouse, or the audit head written
        after every commit (which outlives a warehouse deleted by mistake)."""
        return self.warehouse.exists() or self.audit_head.exists()

    def keys_lost(self) -> str | None:
        """What to say when a hub holding data has lost a key file, else None. A new key
        must not be made for it: found in review, `owf hub init` made a new pseudonymisation
        key beside a warehouse of 1,200 submissions, and the next month's people matched
        none of the months before (everyone a leaver), with no error anywhere."""
        if not self.holds_data():
            return None
        missing = [
            p.name
            for p in (self.hub_encryption_key, self.hub_pseudonymisation_key)
            if not p.exists()
        ]
        if not missing:
            return None
        return (
            f"the hub at {self.root} holds data ({self.warehouse.name},"
            f" {self.audit_head.name}) but its {' and '.join(missing)} in {self.keys} is"
            " missing. Restore the keys folder from the hub's backup (the keys it was made"
            " with): a new pseudonymisation key would make every later month's people"
            " strangers to the months held, and a new encryption key could not open the"
            " packages made for the old one. Nothing was changed."
        )

    def ensure(self) -> HubPaths:
        for folder in (self.root, self.inbox, self.quarantine, self.refused, self.receipts):
            folder.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        os.chmod(self.tmp, 0o700)
        return self
