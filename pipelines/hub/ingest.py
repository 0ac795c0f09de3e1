"""Hub ingestion: from packages in the inbox to landed, re-keyed rows in raw.*.

For each package, in order of arrival:
  received   read the container (not trusted yet)
  verified   signature checked against the organisation's registered key
  governed   an active agreement covers the organisation, extract and period; every field
             in the package is permitted; the standard version is one this hub reads
  decrypted  with the hub's key; payload hash and manifest checked
then, for all packages of the run together (one batch per extract type):
  validated  the standard's rules (submitted form) and the extract's Great Expectations
             suite, and the volume suite against the organisation's previous period
  re-keyed   stage-2 pseudonyms: HMAC-SHA256 under the hub key; stage-1 tokens are dropped
  landed     one transaction per submission: rows, the submission record, supersession of
             an earlier submission for the same organisation, extract and period, and the
             audit events; then the package file is deleted (accepted) or moved to
             quarantine/ or refused/, and a receipt is written to receipts/<ORG>/.

A refusal (signature, registry, agreement, cryptography) is final: the organisation must
send a new package. A quarantine (validation) can be released (`owf quarantine release`)
when only plausibility checks failed. The same package twice is a no-op; a crash leaves
each submission either fully landed or not at all, and a rerun completes the rest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.crypto import keys as kf
from pipelines.crypto.pseudonymise import pseudonymise_column, rekey_column
from pipelines.errors import Finding, OwfError
from pipelines.files import write_whole
from pipelines.governance import Governance, Refusal, load_governance, period_bounds
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.packages import registry_key_resolver
from pipelines.hub.rotation import key_chain, key_not_older_than_the_warehouse
from pipelines.hub.warehouse import (
    connect,
    ensure_schema,
    raw_table,
    refresh_governance_tables,
    rollback,
    write_failed,
)
from pipelines.standard import SUBMITTED, Standard, load_standard
from pipelines.standard.reader import row_numbers
from pipelines.standard.validator import qi, validate_relation
from pipelines.submission.package import (
    SUFFIX,
    PackageError,
    RawPackage,
    decrypt_package,
    payload_arrow_type,
    read_package,
    still_short,
    verify_package,
)

VOLUME_MIN_PREVIOUS_ROWS = 20
# A package shorter than its header says, last written less than this long ago, is taken to
# be still arriving and waits in the inbox; after it, it is taken and refused as truncated.
ARRIVING_SECONDS = 15 * 60
MAX_REASONS_PER_RULE = 200


@dataclass
class Pending:
    """One package on its way through a run."""

    path: Path
    sha256: str
    raw: RawPackage | None = None
    table: pa.Table | None = None
    status: str = "received"  # -> refused | quarantined | accepted | duplicate
    reason: str | None = None
    reasons: list[Finding] = field(default_factory=list)
    agreement_id: str | None = None
    retention_months: int | None = None
    release_note: str | None = None
    superseded_by: str | None = None
    rows_landed: int = 0
    plausibility_only: bool = True  # every failure so far was a plausibility (GX) check
    verified: bool = False  # its signature checked against the organisation's registered key
    id_claimed: bool = True  # no other package holds its package id (_claim_id)
    held_name: str | None = None  # the file name it is kept under if refused or quarantined
    duplicate_of: Pending | None = None  # the first copy of the same package in this run
    # When it reached the hub (UTC, naive): its file's modification time, which delivery sets
    # (write, then rename into the inbox) and moving to quarantine/ keeps, never later than
    # the run. Governance is checked against it, and it is the record's received_at.
    arrived_at: dt.datetime | None = None

    @property
    def manifest(self) -> dict:
        return self.raw.manifest if self.raw else {}

    @property
    def submission_id(self) -> str:
        """The package id, once the signature vouches for it and no other package holds it;
        until then (and for a package that cannot be read) the file's SHA-256. A forged or
        unverifiable package must not take the id of a real submission: its record would be
        written over that submission's."""
        if self.verified and self.id_claimed and self.manifest.get("package_id"):
            return self.manifest["package_id"]
        return f"sha256-{self.sha256[:32]}"

    @property
    def org(self) -> str:
        return str(self.manifest.get("org_code") or "_unknown")

    def refuse(self, reason: str, message: str, **kw) -> None:
        self.status, self.reason = "refused", reason
        self.reasons.append(Finding("error", reason, message, file=self.path.name, **kw))

    def quarantine(self, finding: Finding, plausibility: bool) -> None:
        self.status = "quarantined"
        self.reason = self.reason or finding.rule
        self.plausibility_only = self.plausibility_only and plausibility
        same = sum(1 for f in self.reasons if f.rule == finding.rule and f.field == finding.field)
        if same < MAX_REASONS_PER_RULE:
            self.reasons.append(finding)


@dataclass
class IngestResult:
    outcomes: list[Pending]
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # Files asked for that had left their folder by the time this run held the warehouse
    # lock: another run took them (its decision stands), so this run records nothing of them.
    gone: list[Path] = field(default_factory=list)
    # Packages of an earlier run cut short after its commit, filed by this run first (their
    # decisions are that run's): they are among `gone` when this run was asked for them.
    filed_for_earlier_run: int = 0

    def count(self, status: str) -> int:
        return sum(1 for p in self.outcomes if p.status == status)

    def by_org(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for p in self.outcomes:
            out.setdefault(p.org, {}).setdefault(p.status, 0)
            out[p.org][p.status] += 1
        return out

    def summary(self) -> dict[str, int]:
        return {
            s: self.count(s)
            for s in ("accepted", "superseded", "quarantined", "refused", "duplicate")
            if self.count(s)
        }


@dataclass(frozen=True)
class HubKeys:
    encryption: object  # X25519PrivateKey
    pseudonymisation: kf.SymmetricKey  # the current hub key (its epoch is stamped on rows)
    chain: tuple[kf.SymmetricKey, ...] = ()  # every hub key, oldest first (pipelines.hub.rotation)

    def rekey(self, tokens):
        """Stage 2 through the whole chain: HMAC under the first key, then each later one."""
        chain = self.chain or (self.pseudonymisation,)
        out = rekey_column(chain[0].key, tokens)
        for k in chain[1:]:
            out = pseudonymise_column(k.key, out)
        return out


def load_hub_keys(paths: HubPaths) -> HubKeys:
    lost = paths.keys_lost()
    if lost:  # not "generate the key": a new one would not link with the months held
        raise OwfError(lost)
    chain = key_chain(paths)
    return HubKeys(kf.load_encryption_private_key(paths.hub_encryption_key), chain[-1], chain)


def _keys_under_lock(paths: HubPaths, keys: HubKeys | None) -> HubKeys:
    """The hub keys to land with, read while the caller holds the warehouse lock. Keys the
    caller loaded earlier must still be the current chain, or a rotation came in between."""
    if keys is None:
        return load_hub_keys(paths)
    current = key_chain(paths)[-1].epoch
    if keys.pseudonymisation.epoch != current:
        raise OwfError(
            f"the hub keys given to ingest are epoch {keys.pseudonymisation.epoch}, but"
            f" {paths.hub_pseudonymisation_key} is epoch {current}: the key was rotated"
            " meanwhile. Nothing was landed; run the ingest again (it reads the current keys)."
        )
    return keys


def inbox_packages(paths: HubPaths) -> list[Path]:
    """Packages waiting in the inbox, oldest first (partly written files are dotfiles). A file
    that a run removes between the listing and its stat is no longer waiting: left out; so is
    a package still arriving (arriving_packages)."""
    return inbox_listing(paths)[0]


def arriving_packages(paths: HubPaths) -> list[tuple[Path, float]]:
    """Files in the inbox that are the start of a longer package (its header says so), last
    written less than ARRIVING_SECONDS ago, with their age in seconds: a transfer that
    writes the file in place, rather than renaming a finished file in, is still under way.
    They wait in the inbox; one still short after ARRIVING_SECONDS is taken, and refused as
    truncated (found in review: a package caught half-copied was refused at once)."""
    return inbox_listing(paths)[1]


def inbox_listing(paths: HubPaths) -> tuple[list[Path], list[tuple[Path, float]]]:
    """(inbox_packages, arriving_packages) from one listing of the inbox."""
    found, arriving = [], []
    now = time.time()
    for p in paths.inbox.glob(f"*{SUFFIX}"):
        if p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        age = now - st.st_mtime
        if age < ARRIVING_SECONDS and still_short(p):
            arriving.append((p, max(age, 0.0)))
        else:
            found.append((st.st_mtime_ns, p.name, p))
    return [p for _, _, p in sorted(found)], sorted(arriving, key=lambda a: a[0].name)


def _fault_pause() -> None:
    """Fault-injection aid for tests of crash safety: pause between landings."""
    pause = os.environ.get("OWF_INGEST_PAUSE_SECONDS")
    if pause:
        time.sleep(float(pause))


def ingest(
    paths: HubPaths,
    packages: list[Path] | None = None,
    *,
    std: Standard | None = None,
    gov: Governance | None = None,
    keys: HubKeys | None = None,
    today: dt.date | None = None,
    actor: str = "hub",
    release: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestResult:
    """Ingest `packages` (default: everything in the inbox). `release` maps package SHA-256 to a
    release note: those packages skip the plausibility checks (used by `owf quarantine release`)."""
    say = progress or (lambda _m: None)
    started = time.monotonic()
    stages: dict[str, float] = {}
    mark = [time.monotonic()]

    def stage(name: str) -> None:
        now = time.monotonic()
        stages[name] = round(stages.get(name, 0.0) + now - mark[0], 3)
        mark[0] = now

    paths.ensure()
    std = std or load_standard()
    gov = gov or load_governance(paths.governance, standard=std)
    today = today or dt.date.today()
    release = release or {}
    files = list(packages) if packages is not None else inbox_packages(paths)
    pending = [_read(p) for p in files]
    say(f"{len(pending)} package(s) to ingest")
    stage("read")

    with connect(paths) as wh:
        # The hub keys are read only now, with the warehouse lock held: a rotation takes the
        # same lock for its re-keying and its key files, so none can complete between reading
        # the keys and landing rows under them (rows of an old epoch would never be re-keyed).
        keys = _keys_under_lock(paths, keys)
        key_not_older_than_the_warehouse(paths, wh, keys.pseudonymisation.epoch)
        # A run cut short after committing decisions (a crash, a folder it could not write)
        # left their files and receipts undone: do them first, as that run would have, so
        # that its packages still in the inbox are not taken for duplicates of themselves.
        finished = finish_filing(paths, wh)
        if finished:
            say(f"finished filing {finished} package(s) of an earlier run cut short")
        # A package leaves its folder only under this lock, once its decision is committed: one
        # that is gone now was taken by another run (a sensor run queued behind `owf hub
        # ingest`, say). It is not this run's to refuse as unreadable or log as a duplicate.
        gone = [p.path for p in pending if not p.path.exists()]
        if gone:
            pending = [p for p in pending if p.path.exists()]
            say(
                f"{len(gone)} package(s) already taken by another run: "
                + ", ".join(g.name for g in gone[:10])
            )
        # Each landing transaction (a chunk of packages, see _land) keeps its decisions
        # atomic, but each commit that crosses DuckDB's default 16 MB of WAL also
        # checkpoints: at national scale that was half the landing time. Checkpoint once,
        # after landing (a crash replays the WAL).
        wh.execute("SET checkpoint_threshold = '2GB'")
        ensure_schema(wh, std)
        refresh_governance_tables(wh, gov)
        known = _known_packages(wh, [p.sha256 for p in pending])
        claimed = _ids_on_record(wh, [p.manifest.get("package_id") for p in pending])
        seen: dict[str, Pending] = {}  # package SHA-256 -> its first copy in this run
        for p in pending:
            if p.status == "refused" and not p.sha256:  # unreadable: no content to compare
                continue
            # A file refused as it was read (not a package, truncated, empty) is a copy of
            # another all the same: found in review, two identical ones shared one record,
            # and the second file moved to refused/ stayed there with none.
            releasing = p.sha256 in release and known.get(p.sha256, ("", ""))[1] == "quarantined"
            if (p.sha256 in known and not releasing) or p.sha256 in seen:
                if p.sha256 in known:
                    sid, status = known[p.sha256]
                    p.status, p.reason = (
                        "duplicate",
                        f"the same package was already received (submission {sid}, {status})",
                    )
                else:
                    # Named when it lands (_decide): the first copy's id is its own only once
                    # its signature is verified; this copy's would name nothing on record.
                    p.status, p.duplicate_of = "duplicate", seen[p.sha256]
                continue
            seen[p.sha256] = p
        stage("verify")

        # One extract type at a time, decrypted only when its turn comes and released once
        # landed: peak memory is one extract type's submissions, not the whole month's.
        # Supersession is within (organisation, extract, period), so landing each group in
        # the order the organisations made its packages keeps the later submission current.
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(pending):
            extract = p.manifest.get("extract")
            groups.setdefault(extract if extract in std.extracts else "", []).append(i)
        runner = None
        people = PersonTokens(keys)
        head = audit.head(wh)  # this connection holds the hub lock: only it appends
        for extract in [e for e in std.extracts if e in groups] + [""] * ("" in groups):
            group = [pending[i] for i in groups[extract]]
            # Decrypting (Parquet decoding) and the standard's rules are Arrow and DuckDB,
            # which release Python's lock; re-keying is Python's HMAC loop, which holds it.
            # So each package is re-keyed on a second thread as soon as it is decrypted,
            # while the others are decrypted and then while the rules run, and its re-keyed
            # table takes its place once both are done: the rules read the tables as received.
            with ThreadPoolExecutor(1, thread_name_prefix="owf-rekey") as pool:
                rekeying = []
                for p in group:
                    if p.status == "received":
                        _authenticate_and_govern(p, gov, std, keys, today)
                    _claim_id(p, claimed)
                    if p.status == "received":
                        rekeying.append((p, pool.submit(_rekeyed, p, std, people)))
                stage("verify")
                work = [p for p in group if p.status == "received"]
                if work:
                    say(f"{extract}: validating {len(work)} submission(s)")
                _validate_standard(work, std)
                rekeyed = [(p, future.result()) for p, future in rekeying]
            for p, table in rekeyed:
                if isinstance(table, OwfError):
                    # Identifiers that are no stage-1 pseudonyms (a raw NI number, say): the
                    # rules quarantine the package for them (rule `pseudonym`, the same
                    # pattern), naming row and field, and it is never landed. Found in review:
                    # the error used to stop the whole run, every other package with it.
                    if p.status != "quarantined":
                        raise OwfError(f"{p.path.name}: {table}")
                    continue
                p.table = table
            stage("validate and rekey")
            if any(p.status == "received" for p in work) and runner is None:
                from pipelines.quality.gx_suites import GxRunner

                runner = GxRunner()
            _validate_gx(work, std, wh, release, runner)
            stage("gx")
            for p in work:
                if p.status == "received":
                    p.status = "accepted"
            order = sorted(
                range(len(group)), key=lambda i: (_made_at(group[i].manifest.get("created_at")), i)
            )
            for chunk in _landing_chunks([group[i] for i in order]):
                head = _land(wh, paths, chunk, keys, actor, release, head)
                _fault_pause()
            stage("land")
        wh.execute("CHECKPOINT")
        audit.write_head(paths, wh)
        stage("land")
    _clear_tmp(paths)
    # The decrypted tables are released by now, but Arrow's allocator keeps memory freed by
    # another thread than the one that took it (the re-keyed columns): 0.35 GB of a national
    # month, which the Dagster process then held through the dbt build that follows. Given
    # back here: without it W2's peak went from 2.7 to 3.0 GB (docs/benchmarks.md).
    pa.default_memory_pool().release_unused()
    result = IngestResult(
        pending, round(time.monotonic() - started, 3), stages, gone, filed_for_earlier_run=finished
    )
    say("ingested: " + ", ".join(f"{n} {s}" for s, n in result.summary().items()))
    return result


def _read(path: Path) -> Pending:
    try:
        data = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError as exc:
        p = Pending(path, "")
        p.refuse("unreadable", f"cannot read {path.name}: {exc.strerror}")
        return p
    import hashlib

    p = Pending(path, hashlib.sha256(data).hexdigest())
    now = dt.datetime.now(dt.UTC)
    p.arrived_at = min(dt.datetime.fromtimestamp(mtime, dt.UTC), now).replace(
        tzinfo=None, microsecond=0
    )
    try:
        p.raw = read_package(data, path.name)
    except PackageError as exc:
        p.refuse(exc.reason, str(exc))
    return p


def _known_packages(wh: duckdb.DuckDBPyConnection, shas: list[str]) -> dict[str, tuple[str, str]]:
    if not shas:
        return {}
    rows = wh.execute(
        "SELECT package_sha256, submission_id, status FROM raw.submissions WHERE list_contains($s, package_sha256)",
        {"s": shas},
    ).fetchall()
    return {sha: (sid, status) for sha, sid, status in rows}


def _ids_on_record(wh: duckdb.DuckDBPyConnection, ids: list[str | None]) -> dict[str, str]:
    """Submission id -> package SHA-256 of the records that hold any of `ids`."""
    rows = wh.execute(
        "SELECT submission_id, package_sha256 FROM raw.submissions"
        " WHERE list_contains($ids, submission_id)",
        {"ids": [i for i in ids if i]},
    ).fetchall()
    return dict(rows)


def _claim_id(p: Pending, claimed: dict[str, str]) -> None:
    """A verified package keeps its package id as its submission id unless a record or an
    earlier package of this run holds that id for another file (two organisations' packages,
    or two of one organisation's, carrying the same id): then it goes by its SHA-256, so no
    decision, finding or row of one is taken for the other's."""
    package_id = p.manifest.get("package_id")
    if p.verified and package_id:
        p.id_claimed = claimed.setdefault(package_id, p.sha256) == p.sha256


def _authenticate_and_govern(
    p: Pending, gov: Governance, std: Standard, keys: HubKeys, today: dt.date
) -> None:
    m = p.manifest
    try:
        public_key = registry_key_resolver(gov)(m["org_code"], m["signing_key_fingerprint"], today)
    except Refusal as exc:
        p.refuse(exc.reason, str(exc))
        return
    try:
        verify_package(p.raw, public_key, p.path.name)
    except PackageError as exc:
        p.refuse(exc.reason, str(exc))
        return
    p.verified = True
    # From here the manifest is authentic.
    if not _well_formed_period(m["period"]):
        # Signed, but not a month: refused on its own, before anything compares or files by
        # its period (the agreement's dates, the volume check, the models).
        p.refuse(
            "bad_manifest",
            f"the manifest's period {m['period']!r} is not a census month: the rule is YYYY-MM"
            " with a month from 01 to 12 (for example 2026-10). The package is signed by"
            f" {m['org_code']}, so its tool wrote it: prepare it again with"
            " `owf submit prepare --period YYYY-MM` and send the new package. Nothing from this"
            " package was used.",
            field="period",
            found=f"{m['period']!r}",
        )
        return
    created = created_time(m["created_at"])
    if created is None:
        p.refuse(
            "bad_manifest",
            f"the manifest's created_at {m['created_at']!r} is not a date and time with its"
            " zone, as the tool writes it (for example 2026-10-05T09:30:00+00:00): the hub"
            f" orders {m['org_code']}'s submissions for a month by it. Prepare the package"
            " again with `owf submit prepare` and send the new package. Nothing from this"
            " package was used.",
            field="created_at",
        )
        return
    arrived = p.arrived_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    created = created.replace(tzinfo=None)  # UTC (created_time), as the naive arrival is
    if created > arrived + CLOCK_TOLERANCE:
        # Found in review: a package dated a year ahead (a wrong clock, or a manifest
        # written by hand and signed) stayed current over every correction sent after it,
        # each landing as superseded, "made earlier".
        p.refuse(
            "created_after_arrival",
            f"the package says it was made at {created.isoformat(timespec='seconds')} UTC, after it"
            f" reached the hub ({arrived.isoformat(timespec='seconds')} UTC): the clock of the"
            " machine that prepared it is wrong, and the hub would take a later package for an"
            " earlier one. Set that machine's date and time right, prepare the package again"
            " and send it. Nothing from this package was used.",
            field="created_at",
        )
        return
    try:
        # Pseudonyms under any key but the system's can never be linked with another
        # organisation's people (nor with its own earlier months): they would land as people
        # nobody else has, and every count at system level would be wrong.
        gov.check_system_key(m["key_epoch"], m.get("system_key_check"))
    except Refusal as exc:
        p.refuse(exc.reason, str(exc), field="system_key_check")
        return
    if m["extract"] not in std.extracts:
        p.refuse(
            "unknown_extract", f"extract {m['extract']!r} is not in the standard v{std.version}."
        )
        return
    if str(m["standard_version"]).split(".")[0] != std.version.split(".")[0]:
        p.refuse(
            "unsupported_standard_version",
            f"the package follows standard v{m['standard_version']}; this hub reads v{std.version}."
            " Update the submission tool and prepare the package again.",
        )
        return
    try:
        agreement = gov.resolve_agreement(
            m["org_code"],
            m["extract"],
            m["period"],
            today,
            arrived_on=p.arrived_at.date() if p.arrived_at else None,
        )
    except Refusal as exc:
        p.refuse(exc.reason, str(exc))
        return
    p.agreement_id, p.retention_months = agreement.id, agreement.retention_months
    extra = [f for f in m["fields"] if f not in agreement.permitted_fields(m["extract"])]
    if extra:
        p.refuse(
            "field_not_permitted",
            f"the package holds {', '.join(extra)}, which agreement {agreement.id} does not permit"
            f" for {m['extract']}. Prepare it again with the current agreement (the tool drops"
            " fields that are not permitted).",
            field=extra[0],
        )
        return
    try:
        table = decrypt_package(p.raw, keys.encryption, p.path.name)
    except PackageError as exc:
        p.refuse(exc.reason, str(exc))
        return
    # Found in review: a column of another type (an identifier as a number, made by some other
    # tool) stopped the whole run where the extract's packages are batched together.
    ext = std.extract(m["extract"])
    for name, type_ in zip(table.column_names, table.schema.types, strict=True):
        wanted = payload_arrow_type(ext.field(name).type)
        if type_ != wanted:
            p.refuse(
                "payload_type_mismatch",
                f"the payload's column {name} is of type {type_}, where the standard's"
                f" submitted form has {wanted}: the package was not made by `owf submit"
                " prepare`. Prepare it again with the submission tool.",
                field=name,
            )
            return
    p.table = table


# How far ahead of its arrival a package's created_at may be: two machines' clocks differ by
# seconds or minutes, not hours.
CLOCK_TOLERANCE = dt.timedelta(hours=1)
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def created_time(value) -> dt.datetime | None:
    """A manifest's created_at as an aware datetime, or None if it is not an ISO 8601 date
    and time with a zone (text comparison put 'yesterday' after every '2026-...')."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
        if when.tzinfo is None:
            return None
        # In UTC, so that comparing never fails: found in re-review, 9999-12-31T23:00-05:00
        # overflowed there and stopped every run for every organisation.
        return when.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def _made_at(value) -> dt.datetime:
    """For ordering submissions by when they were made: a record without a readable
    created_at comes first."""
    return created_time(value) or _EARLIEST


def _well_formed_period(period) -> bool:
    try:
        period_bounds(period)
    except OwfError:
        return False
    return True


BATCH_ROWS = 250_000


def _batches(items: list[Pending], std: Standard):
    """(extract, submissions) in batches of whole submissions of about BATCH_ROWS rows: every
    rule and expectation is per row or per submission, so batching changes no outcome and
    bounds the memory a national month needs."""
    for extract in std.extracts:
        of_extract = [p for p in items if p.manifest["extract"] == extract]
        for batch in _chunks(of_extract, lambda p: p.table.num_rows):
            yield extract, batch


def _chunks(
    items: list[Pending], rows_of: Callable[[Pending], int], max_rows: int = BATCH_ROWS
) -> Iterator[list[Pending]]:
    """Consecutive whole packages, about `max_rows` rows (as `rows_of` counts them) a chunk."""
    chunk: list[Pending] = []
    rows = 0
    for p in items:
        n = rows_of(p)
        if chunk and rows + n > max_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append(p)
        rows += n
    if chunk:
        yield chunk


def _constant(value, n: int, type_: pa.DataType) -> pa.Array:
    """`value` n times, as one run of a run-end encoded array: nothing is repeated in memory.

    DuckDB reads it as a column of `type_`. Repeated in full (`pa.repeat`), the submission,
    organisation and period of every row of a national month were 0.5 GB written three times
    over, 0.7 s of the ingest holding Python's lock (docs/benchmarks.md)."""
    return pa.RunEndEncodedArray.from_arrays(
        pa.array([n] if n else [], pa.int32()), pa.array([value] if n else [], type_)
    )


def _batch_table(items: list[Pending], std: Standard, extract: str) -> pa.Table:
    """All submissions of one extract as one table with every submitted-form field."""
    ext = std.extract(extract)
    tables = []
    for p in items:
        t = p.table
        n = t.num_rows
        cols = {
            "__submission": _constant(p.submission_id, n, pa.string()),
            "__org": _constant(p.manifest["org_code"], n, pa.string()),
            "__period": _constant(p.manifest["period"], n, pa.string()),
            "__row": row_numbers(n),
        }
        for f in ext.fields_in(SUBMITTED):
            if f.name in t.column_names:
                cols[f.name] = t.column(f.name)
        tables.append(pa.table(cols))
    return pa.concat_tables(tables, promote_options="default")


def _validate_standard(work: list[Pending], std: Standard) -> None:
    """The standard's rules, submitted form, one DuckDB pass per extract type."""
    by_sid = {p.submission_id: p for p in work}
    con = duckdb.connect()
    try:
        for extract, items in _batches(work, std):
            ext = std.extract(extract)
            batch = _batch_table(items, std, extract)
            # Read where it is, as Arrow (copying it into DuckDB tables first took about 3 s
            # of a national month); __global numbers its rows across the batch.
            con.register("owf_batch", batch.append_column("__global", row_numbers(len(batch))))
            # The key is unique within a submission; the batch holds many.
            batch_ext = dataclasses.replace(ext, key=("__submission",) + ext.key)
            # Findings name the global row; translated back to (submission, payload row)
            # below, for the rows with findings only.
            con.execute(
                "CREATE OR REPLACE TEMP VIEW owf_fields AS SELECT __global AS __row,"
                " * EXCLUDE (__global, __row, __org, __period) FROM owf_batch"
            )
            findings, _ = validate_relation(
                con,
                "owf_fields",
                batch_ext,
                form=SUBMITTED,
                display="",
                std=std,
                max_rows_per_rule=0,
            )
            lookup = (
                {
                    g: (s, r)
                    for g, s, r in con.execute(
                        "SELECT __global, __submission, __row FROM owf_batch"
                        " WHERE list_contains($rows, __global)",
                        {"rows": sorted({f.row for f in findings})},
                    ).fetchall()
                }
                if findings
                else {}
            )
            for f in findings:
                sid, row = lookup[f.row]
                p = by_sid[sid]
                found = (
                    f.found
                    if f.rule != "duplicate_key"
                    else "the same key as another row of this submission"
                )
                field_name = f.field.replace("__submission+", "") if f.field else f.field
                p.quarantine(
                    Finding("error", f.rule, f.message, p.path.name, row, field_name, found),
                    plausibility=False,
                )
            # The organisation and period of every row must be the manifest's.
            for col, rule in (("org_code", "org_code_mismatch"), ("period", "period_mismatch")):
                bad = con.execute(
                    f"SELECT __submission, __row FROM owf_batch WHERE {qi(col)} IS DISTINCT FROM {qi('__' + col.split('_')[0])}"  # noqa: S608
                    " ORDER BY __submission, __row"
                ).fetchall()
                for sid, row in bad:
                    by_sid[sid].quarantine(
                        Finding(
                            "error",
                            rule,
                            f"{col} differs from the package manifest's {col}.",
                            by_sid[sid].path.name,
                            row,
                            col,
                        ),
                        plausibility=False,
                    )
            con.unregister("owf_batch")
    finally:
        con.close()


class PersonTokens:
    """The people's stage-1 tokens re-keyed so far in one ingestion run, by organisation.

    Re-keying is a function of the token alone (HMAC-SHA256 under the hub key chain), and an
    organisation's staff in post, leavers and sickness absence name mostly the same people:
    re-keyed once for the staff in post, a person's token is taken from here for the
    sickness absence. That is a third of a national month's 4.4 million HMACs
    (docs/benchmarks.md, "People re-keyed once a run").

    Held in memory for the run only, as Arrow arrays, and never written anywhere: stage-1
    tokens must not be stored at the hub. Kept by organisation so each look-up hashes a few
    thousand tokens, not the month's; only one thread uses it (the run's re-keying thread).
    """

    def __init__(self, keys: HubKeys):
        self.keys = keys
        self.known: dict[str, tuple[pa.Array, pa.Array]] = {}  # org -> (stage 1, stage 2)

    def rekey(self, org: str, tokens: pa.Array | pa.ChunkedArray) -> pa.Array:
        """`keys.rekey(tokens)`, value for value, hashing only tokens not seen for `org`."""
        if isinstance(tokens, pa.ChunkedArray):
            tokens = tokens.combine_chunks()
        encoded = tokens.dictionary_encode()  # nulls take null indices, as in keys.rekey
        distinct = encoded.dictionary
        known = self.known.get(org)
        if known is None:
            fresh = _plain(self.keys.rekey(distinct))
            self.known[org] = (distinct, fresh)
            return fresh.take(encoded.indices)
        at = pc.index_in(distinct, value_set=known[0])
        missing = pc.is_null(at)
        new = distinct.filter(missing)
        fresh = _plain(self.keys.rekey(new))  # checks the new tokens' form; the known passed
        rekeyed = pc.replace_with_mask(known[1].take(at), missing, fresh)
        if len(new):
            self.known[org] = (
                pa.concat_arrays([known[0], new]),
                pa.concat_arrays([known[1], fresh]),
            )
        return rekeyed.take(encoded.indices)


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _rekeyed(p: Pending, std: Standard, people: PersonTokens) -> pa.Table | OwfError:
    """Stage 2: the package's table with every identifier column re-keyed under the hub key,
    its stage-1 tokens dropped. Returned, not put in place: the standard's rules read the
    package's table meanwhile, and may yet quarantine it. A package whose identifiers are not
    all stage-1 pseudonyms gets the error instead. People's tokens go through `people`, so
    each person is hashed once a run; assignment numbers, which no other extract of the
    month repeats in number, are hashed as they come."""
    t = p.table
    try:
        for f in std.extract(p.manifest["extract"]).fields:
            if f.type == "identifier" and f.name in t.column_names:
                i = t.column_names.index(f.name)
                if f.identifier == "ni_number":
                    rekeyed = people.rekey(p.org, t.column(i))
                else:
                    rekeyed = people.keys.rekey(t.column(i))
                t = t.set_column(i, f.name, rekeyed)
    except OwfError as exc:
        return exc
    return t


def _validate_gx(
    work: list[Pending],
    std: Standard,
    wh: duckdb.DuckDBPyConnection,
    release: dict[str, str],
    runner=None,
) -> None:
    """Each extract's GX suite over the batch, and the volume suite over the submissions."""
    from pipelines.quality.gx_suites import GxRunner, batch_sql, load_suite

    live = [p for p in work if p.status == "received"]
    if not live:
        return
    runner = runner or GxRunner()
    by_sid = {p.submission_id: p for p in live}
    con = duckdb.connect()
    try:
        for extract, items in _batches(live, std):
            suite = load_suite(extract)
            batch = _batch_table(items, std, extract)
            # GX knows each row's submission by its place in `items`, a number: as the
            # 36-character id, its 1.5 million Python strings were a third of the staff in
            # post's GX time (docs/benchmarks.md, "Constants and numbers for the checks").
            batch = batch.append_column(
                "__number",
                pa.chunked_array(
                    [_constant(i, p.table.num_rows, pa.int32()) for i, p in enumerate(items)],
                    pa.run_end_encoded(pa.int32(), pa.int32()),
                ),
            )
            # A view over the Arrow batch: only the suite's columns are read, never copied.
            con.register("owf_incoming", batch)
            con.execute(
                "CREATE OR REPLACE TEMP VIEW owf_gx AS SELECT __number AS submission_id,"
                " __row AS payload_row,"
                " * EXCLUDE (__number, __submission, __row, __org, __period) FROM owf_incoming"
            )
            available = {r[0] for r in con.execute("DESCRIBE owf_gx").fetchall()}
            pseudonyms = {f.name for f in std.extract(extract).fields if f.is_pseudonymised}
            frame = con.sql(batch_sql(suite, "owf_gx", available, hashed=pseudonyms)).df()
            con.execute("DROP VIEW owf_gx")
            con.unregister("owf_incoming")
            del batch
            result = runner.validate(suite, frame)
            for failure in result.failures:
                # A failure of no row (the suite could not run) is every submission's.
                targets = items if failure.submission_id is None else [items[failure.submission_id]]
                for p in targets:
                    p.quarantine(
                        Finding(
                            "error",
                            f"{suite.name}.{failure.rule}",
                            failure.message,
                            p.path.name,
                            failure.payload_row,
                            failure.column,
                        ),
                        plausibility=failure.rule != "no_result",
                    )
        # Volumes against each organisation's previous accepted period: the accepted records
        # of these organisations and extracts read with one query (one per package took
        # 1.2 s of a national month's 1,100), each package's previous period found here.
        checked = [p for p in live if not std.extract(p.manifest["extract"]).may_be_empty]
        history: dict[tuple[str, str], list[tuple[str, int]]] = {}
        if checked:
            for org, extract, period, count in wh.execute(
                "SELECT org_code, extract, period, row_count FROM raw.submissions"
                " WHERE status = 'accepted' AND list_contains($orgs, org_code)"
                " AND list_contains($extracts, extract) ORDER BY period",
                {
                    "orgs": sorted({p.manifest["org_code"] for p in checked}),
                    "extracts": sorted({p.manifest["extract"] for p in checked}),
                },
            ).fetchall():
                history.setdefault((org, extract), []).append((period, count))
        rows = []
        compared: dict[str, tuple[int, int, str]] = {}  # submission: rows, previous, its period
        for p in checked:
            m = p.manifest
            earlier = [
                h for h in history.get((m["org_code"], m["extract"]), []) if h[0] < m["period"]
            ]
            previous_period, previous = earlier[-1] if earlier else (None, None)
            ratio = (
                p.table.num_rows / previous
                if previous and previous >= VOLUME_MIN_PREVIOUS_ROWS
                else None
            )
            if ratio is not None:
                compared[p.submission_id] = (p.table.num_rows, previous, previous_period)
            rows.append({"submission_id": p.submission_id, "volume_ratio": ratio})
        if rows:
            import pandas as pd

            suite = load_suite("submission_volumes")
            result = runner.validate(suite, pd.DataFrame(rows))
            for failure in result.failures:
                for p in (
                    [by_sid[failure.submission_id]] if failure.submission_id in by_sid else live
                ):
                    counts = compared.get(p.submission_id)
                    found = (
                        f" This {p.manifest['extract']} has {counts[0]:,} rows; the"
                        f" organisation's accepted one for {counts[2]} had {counts[1]:,}"
                        f" ({counts[0] / counts[1]:.2f} times as many)."
                        if counts
                        else ""
                    )
                    p.quarantine(
                        Finding(
                            "error",
                            f"{suite.name}.{failure.rule}",
                            failure.message
                            + found
                            + " Confirm the volume with the organisation, then release"
                            " the submission (owf quarantine release) or ask for a corrected one.",
                            p.path.name,
                            None,
                            None,
                        ),
                        plausibility=True,
                    )
    finally:
        con.close()
    for p in live:
        if p.status == "quarantined" and p.sha256 in release and p.plausibility_only:
            p.status, p.release_note = "received", release[p.sha256]


# Rows one landing transaction takes (whole packages, so a package never splits). An extract
# type of a national month (1.5 million staff in post) lands in one transaction. DuckDB writes
# a large INSERT's full row groups straight into the file, but each commit leaves a part-filled
# one behind that the checkpoint rewrites: the national staff in post and sickness committed
# 250,000 rows at a time took 3.6-3.9 s to insert and 3.7-3.9 s to checkpoint, against
# 2.3-2.4 s and 0.4 s as one INSERT in one transaction (docs/benchmarks.md, "Landing an
# extract type in one transaction"). The bound keeps a transaction finite for larger systems.
LANDING_ROWS = 4_000_000


def _landing_chunks(items: list[Pending]) -> Iterator[list[Pending]]:
    """One landing transaction each: consecutive packages, counting the rows they land, up to
    LANDING_ROWS (more than any one extract type of a national month)."""
    return _chunks(
        items,
        lambda p: p.table.num_rows if p.table is not None and p.status == "accepted" else 0,
        LANDING_ROWS,
    )


def _land(
    wh: duckdb.DuckDBPyConnection,
    paths: HubPaths,
    chunk: list[Pending],
    keys: HubKeys,
    actor: str,
    release: dict[str, str],
    audit_head: tuple[int, str] | None = None,
) -> tuple[int, str]:
    """Record the decisions for consecutive packages in one transaction, then move their files
    and write their receipts.

    Every decision of the chunk commits together or not at all: a failure rolls the chunk
    back and leaves its packages in the inbox for the rerun, and a crash loses nothing that
    a rerun does not redo (the files move only after the commit). One transaction per chunk
    (see LANDING_ROWS) rather than per package: the national month's 1,100 commits cost
    about 4 s. The accepted packages' rows go in together too (`_insert_rows`). The audit
    events go in with the decisions, chained on from `audit_head` (the head this connection
    committed last; None reads it), and the new head is written to audit-head.json as soon as
    they are committed. Returns the new head."""
    wh.execute("BEGIN TRANSACTION")
    batch = audit.Batch(wh, audit_head)
    journal: Path | None = None
    landing: list[tuple[str, pa.Table]] = []
    for p in chunk:
        p.held_name = _held_name(paths, p)
    try:
        records = _Records(wh, chunk)
        decided = [
            (p, _decide(records, p, batch, keys, actor, release.get(p.sha256), landing))
            for p in chunk
        ]
        records.flush()
        _insert_rows(wh, landing)
        batch.flush()
        # What the files and receipts must become once these decisions are committed,
        # written down first: if the run stops between the commit and the last file, the
        # next run finds the journal and finishes (finish_filing).
        journal = _write_journal(
            paths,
            batch.head,
            [
                _filing_entry(paths, p, superseded, release.get(p.sha256))
                for p, superseded in decided
            ],
        )
        wh.execute("COMMIT")
    except Exception as exc:
        rollback(wh)
        if journal is not None:
            journal.unlink(missing_ok=True)
        failed = write_failed(exc, "this chunk's packages (still in the inbox)")
        if failed:
            raise failed from exc
        raise
    # At once, so that a later chunk's failure cannot leave these events uncovered.
    audit.record_head(paths, batch.head)
    _apply_journal(journal)
    for p, _ in decided:
        p.table = None  # landed: the rows live in the warehouse now
    return batch.head


def _decide(
    records: _Records,
    p: Pending,
    batch: audit.Batch,
    keys: HubKeys,
    actor: str,
    release_note: str | None,
    landing: list[tuple[str, pa.Table]],
) -> list[str]:
    """One package's decision, inside the caller's transaction: its submission record and its
    audit events, and its rows (if accepted) added to `landing` for the caller to insert.
    Returns the submissions it superseded."""
    m = p.manifest
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    sid = p.submission_id
    ev = {
        "submission_id": sid,
        "org_code": m.get("org_code"),
        "extract": m.get("extract"),
        "period": m.get("period"),
        "actor": actor,
    }
    superseded: list[str] = []
    if p.status == "duplicate":
        if p.duplicate_of is not None:
            p.reason = (
                "the same package was already received (submission"
                f" {p.duplicate_of.submission_id}, in this run)"
            )
        # Nothing changes; the attempt is still on the record.
        batch.append(
            "duplicate",
            detail={"file": p.path.name, "package_sha256": p.sha256, "note": p.reason},
            **ev,
        )
        return superseded
    batch.append("received", detail={"file": p.path.name, "package_sha256": p.sha256}, **ev)
    if p.status == "refused":
        # What was decided against: the rule's own message (it names the agreement or key,
        # never a person's value) and the agreement and key where they were known, so that
        # "under which agreement was this refused" can be read from the log alone.
        detail = {"reason": p.reason}
        if p.reasons:
            detail["message"] = p.reasons[-1].message
        if p.agreement_id:
            detail["agreement"] = p.agreement_id
        if p.verified and p.manifest.get("signing_key_fingerprint"):
            detail["signing_key"] = p.manifest["signing_key_fingerprint"]
        batch.append("refused", detail=detail, **ev)
    else:
        batch.append(
            "verified",
            detail={
                "agreement": p.agreement_id,
                "signing_key": m["signing_key_fingerprint"],
            },
            **ev,
        )
    if p.status == "accepted":
        table = _lineage(p, keys)
        landing.append((m["extract"], table))
        p.rows_landed = table.num_rows
        current = records.current(m)
        made = _made_at(m.get("created_at"))
        newer = [sid_ for sid_, created in current if _made_at(created) > made]
        if newer:
            # A package made before the current submission arrived late: keep it, superseded.
            p.status, p.reason = (
                "superseded",
                f"an already accepted submission ({newer[0]}) was made later",
            )
            p.superseded_by = newer[0]
        superseded = [] if newer else [sid_ for sid_, _ in current]
        if not newer:
            records.make_current(m, sid, superseded, now)
        if superseded:
            for old in superseded:
                batch.append(
                    "superseded",
                    detail={"superseded_by": sid},
                    **(ev | {"submission_id": old}),
                )
        if release_note:
            batch.append("released", detail={"note": release_note}, **ev)
        batch.append("accepted", detail={"rows": table.num_rows, "superseded": superseded}, **ev)
        if p.status == "superseded":
            batch.append("superseded", detail={"superseded_by": newer[0]}, **ev)
    elif p.status == "quarantined":
        batch.append("quarantined", detail={"reason": p.reason, "findings": len(p.reasons)}, **ev)
    _record_submission(records, p, now, keys, release_note)
    return superseded


def _insert_rows(wh: duckdb.DuckDBPyConnection, landing: list[tuple[str, pa.Table]]) -> None:
    """Insert accepted packages' rows, in their order: one INSERT for each run of packages of
    the same extract with the same columns, not one per package. DuckDB starts new storage
    for every INSERT into a table, so a small package cost about 10 ms on its own: 1.5 million
    rows in 220 inserts took 4.5 s, in one 2.3 s (a DuckDB file, one transaction, 2 cores).
    Packages whose columns differ (their agreements permit different fields) are inserted
    separately, each naming its own columns, so the others are NULL as before."""
    for (extract, _), run in itertools.groupby(
        landing, key=lambda item: (item[0], item[1].schema.remove_metadata())
    ):
        tables = [table for _, table in run]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        cols = ", ".join(qi(c) for c in table.column_names)
        wh.register("owf_landing", _in_row_groups(table))
        try:
            wh.execute(
                f"INSERT INTO {raw_table(extract)} ({cols}) SELECT {cols} FROM owf_landing"  # noqa: S608
            )
        finally:
            wh.unregister("owf_landing")


# DuckDB's rows per row group (its default; the hub does not change it).
ROW_GROUP_ROWS = 122_880


def _in_row_groups(table: pa.Table) -> pa.RecordBatchReader:
    """`table` as a stream of batches of one DuckDB row group each (the last one shorter), each
    made contiguous only as DuckDB reads it.

    A national month's 220 packages of an extract come as 220 small chunks. Inserted as they
    were, DuckDB filled each row group with whole chunks (116,450 rows of 122,880), and the
    next small append to the table, a resubmission's, made its checkpoint rewrite them (0.85 s
    of the resubmission's ingest). In whole row groups the national insert is also quicker
    (2.6-2.7 s against 3.3-3.8 s) and smaller at its peak (docs/benchmarks.md, "Landing an
    extract type in one transaction")."""

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, table.num_rows, ROW_GROUP_ROWS):
            yield from table.slice(start, ROW_GROUP_ROWS).combine_chunks().to_batches()

    return pa.RecordBatchReader.from_batches(table.schema, batches())


def _lineage(p: Pending, keys: HubKeys) -> pa.Table:
    t = p.table
    n = t.num_rows
    cols = {
        "submission_id": _constant(p.submission_id, n, pa.string()),
        "payload_row": row_numbers(n),
        "key_epoch": _constant(int(p.manifest["key_epoch"]), n, pa.int32()),
        "hub_key_epoch": _constant(keys.pseudonymisation.epoch, n, pa.int32()),
    }
    for name in t.column_names:
        cols[name] = t.column(name)
    return pa.table(cols)


class _Records:
    """raw.submissions as one landing transaction sees it: read once for the chunk and its new
    records written with one INSERT at its end, where each package had three statements of
    its own (about 3 s of a national month's 1,100 packages). Decisions made earlier in the
    chunk are seen by later ones, as they were when each package wrote its record at once: a
    package accepted here is current for its (organisation, extract, period), and one it
    supersedes that is still waiting to be written is written superseded."""

    def __init__(self, wh: duckdb.DuckDBPyConnection, chunk: list[Pending]) -> None:
        self.wh = wh
        self.existing = {
            sid
            for (sid,) in wh.execute(
                "SELECT submission_id FROM raw.submissions WHERE list_contains($s, submission_id)",
                {"s": [p.submission_id for p in chunk]},
            ).fetchall()
        }
        orgs = sorted({p.manifest["org_code"] for p in chunk if p.status == "accepted"})
        self._current: dict[tuple, list[tuple[str, str | None]]] = {}
        if orgs:
            for sid, org, extract, period, created in wh.execute(
                "SELECT submission_id, org_code, extract, period, created_at FROM raw.submissions"
                " WHERE status = 'accepted' AND list_contains($o, org_code)",
                {"o": orgs},
            ).fetchall():
                self._current.setdefault((org, extract, period), []).append((sid, created))
        self._new: dict[str, dict] = {}

    @staticmethod
    def _key(m: dict) -> tuple:
        return (m["org_code"], m["extract"], m["period"])

    def current(self, m: dict) -> list[tuple[str, str | None]]:
        """The accepted submissions for the manifest's organisation, extract and period."""
        return list(self._current.get(self._key(m), []))

    def make_current(self, m: dict, sid: str, superseded: list[str], now) -> None:
        self._current[self._key(m)] = [(sid, m.get("created_at"))]
        earlier = []
        for old in superseded:
            record = self._new.get(old)
            if record is None:
                earlier.append(old)
            else:
                record.update(status="superseded", superseded_by=sid, decided_at=now)
        if earlier:
            self.wh.execute(
                "UPDATE raw.submissions SET status = 'superseded', superseded_by = $sid,"
                " decided_at = $now WHERE list_contains($old, submission_id)",
                {"sid": sid, "now": now, "old": earlier},
            )

    def add(self, record: dict) -> None:
        self._new[record["submission_id"]] = record

    def flush(self) -> None:
        if not self._new:
            return
        rows = list(self._new.values())
        # The columns are the record's keys (_record_submission); DuckDB casts each to the
        # table's type, as it did the parameters of one INSERT per package.
        columns = list(rows[0])
        table = pa.table({c: pa.array([r[c] for r in rows]) for c in columns})
        names = ", ".join(qi(c) for c in columns)
        self.wh.register("owf_records", table)
        try:
            self.wh.execute(
                f"INSERT INTO raw.submissions ({names}) SELECT {names} FROM owf_records"  # noqa: S608 - fixed names
            )
        finally:
            self.wh.unregister("owf_records")
        self._new = {}


def _record_submission(records: _Records, p: Pending, now, keys: HubKeys, release_note) -> None:
    """The package's submission record: added to the chunk's records, or (a quarantined
    submission being released) its existing record updated."""
    m = p.manifest
    status = p.status
    reason = p.reason
    if status == "accepted" and release_note:
        reason = f"released from quarantine: {release_note}"
    hub_epoch = keys.pseudonymisation.epoch if status in ("accepted", "superseded") else None
    if p.submission_id in records.existing:  # a quarantined submission being released
        # Everything its acceptance decides, as a new record would have it: the submission
        # it arrived superseded by, and the agreement (and so the retention) it is accepted
        # under now. A release that does not land keeps the agreement it was quarantined under.
        records.wh.execute(
            "UPDATE raw.submissions SET status = $status, status_reason = $reason, decided_at = $now,"
            " hub_key_epoch = $hke, superseded_by = $superseded_by,"
            " agreement_id = CASE WHEN $landed THEN $agreement ELSE agreement_id END,"
            " retention_months = CASE WHEN $landed THEN $retention ELSE retention_months END,"
            " package_file = $file WHERE submission_id = $sid",
            {
                "status": status,
                "reason": reason,
                "now": now,
                "hke": hub_epoch,
                "superseded_by": p.superseded_by,
                "landed": status in ("accepted", "superseded"),
                "agreement": p.agreement_id,
                "retention": p.retention_months,
                "file": p.held_name or p.path.name,
                "sid": p.submission_id,
            },
        )
        return
    records.add(
        {
            "submission_id": p.submission_id,
            "package_sha256": p.sha256,
            "org_code": m.get("org_code"),
            "extract": m.get("extract"),
            # Only a well-formed period is recorded (models read it as a date); the receipt
            # keeps what the manifest claimed.
            "period": m.get("period") if _well_formed_period(m.get("period")) else None,
            "standard_version": m.get("standard_version"),
            "agreement_id": p.agreement_id,
            "key_epoch": m.get("key_epoch"),
            "hub_key_epoch": hub_epoch,
            "row_count": m.get("row_count"),
            "fields": m.get("fields"),
            "profile": m.get("profile"),
            "tool_version": m.get("tool_version"),
            "created_at": m.get("created_at"),
            "received_at": p.arrived_at or now,
            "decided_at": now,
            "status": status,
            "status_reason": reason,
            "superseded_by": p.superseded_by,
            "package_file": p.held_name or p.path.name,
            "retention_months": p.retention_months,
        }
    )


def _filing_entry(
    paths: HubPaths, p: Pending, superseded: list[str], release_note: str | None
) -> dict:
    """What one decided package's file and receipt become: the file deleted (accepted
    packages hold stage-1 pseudonyms, which the hub must not keep; a duplicate in the inbox),
    moved to quarantine/ or refused/, or left; and its receipt."""
    src = p.path
    in_inbox = src.parent.resolve() == paths.inbox.resolve()
    action, target = "leave", None
    if p.status in ("accepted", "superseded") or (p.status == "duplicate" and in_inbox):
        if in_inbox or _in_quarantine(paths, src):
            action = "delete"
    elif _moves_to_held(paths, p):
        action, target = "hold", str(_held_dir(paths, p) / (p.held_name or src.name))
    return {
        "submission_id": p.submission_id,
        "source": str(src),
        "action": action,
        "target": target,
        "receipt_path": str(receipt_path(paths, p)),
        "receipt": _receipt_doc(p, superseded, release_note),
        # A duplicate's receipt never replaces the first one.
        "keep_existing_receipt": p.status == "duplicate",
    }


def _write_journal(paths: HubPaths, head: tuple[int, str], entries: list[dict]) -> Path:
    """Written whole and on disk (the file and its folder synced) before the decisions it
    files are committed: DuckDB's commit is durable, so after a power cut a journal that was
    only in the page cache could be missing or empty beside committed decisions (found in
    review)."""
    paths.filing.mkdir(parents=True, exist_ok=True)
    path = paths.filing / f"{head[0]:012d}-{head[1][:16]}.json"
    doc = {"audit_head": list(head), "entries": entries}
    return write_whole(path, json.dumps(doc, default=str).encode("utf-8"))


def _read_journal(journal: Path) -> dict:
    """A filing journal, or an error saying what to do with one that cannot be read."""
    try:
        doc = json.loads(journal.read_text())
        if not (
            isinstance(doc, dict)
            and isinstance(doc.get("entries"), list)
            and isinstance(doc.get("audit_head"), list)
            and len(doc["audit_head"]) == 2
        ):
            raise ValueError("not a filing journal: no audit head and entries")
        return doc
    except ValueError as exc:
        raise OwfError(
            f"the filing journal {journal} cannot be read ({exc}): it says how the packages of"
            " an earlier run were to be filed once their decisions were committed, and"
            " ingestion finishes that before anything else. Nothing was changed. Restore the"
            " file from a backup and run the ingestion again. If there is none, move it out of"
            " that folder and run again: that run's packages still in the inbox are then taken"
            " for duplicates of themselves (their receipts say so), and `owf quarantine list`"
            " shows a held package of that run whose file is missing."
        ) from None


def _apply_journal(journal: Path) -> None:
    """Move the files and write the receipts a journal lists, then remove it. Each step can
    be done again: a file already moved or deleted is skipped."""
    doc = _read_journal(journal)
    for entry in doc["entries"]:
        try:
            _apply_entry(entry)
        except OSError as exc:
            raise OwfError(
                f"the decision on {Path(entry['source']).name} (submission"
                f" {entry['submission_id']}) is recorded, but its file or receipt could not be"
                f" written: {exc.strerror or exc} ({exc.filename or entry['source']}). Fix that"
                " (a file where a folder should be, a full disk, permissions) and run the"
                " ingestion again: it finishes this filing first. Nothing recorded is lost."
            ) from None
    journal.unlink()


def _apply_entry(entry: dict) -> None:
    src = Path(entry["source"])
    if entry["action"] == "delete":
        src.unlink(missing_ok=True)
    elif entry["action"] == "hold" and src.exists():
        target = Path(entry["target"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), target)
    path = Path(entry["receipt_path"])
    if entry["keep_existing_receipt"] and path.exists():
        return
    write_receipt(path, entry["receipt"])


def write_receipt(path: Path, receipt: dict) -> None:
    """A receipt written whole and on disk (pipelines.files): the filing journal that lists it
    is removed once its receipts are written, so one left empty by a power cut would be lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, (json.dumps(receipt, indent=2, default=str) + "\n").encode("utf-8"))


def finish_filing(paths: HubPaths, wh) -> int:
    """Complete the filing of decisions an earlier run committed but did not finish filing
    (it stopped between its commit and its last file move or receipt); journals of chunks
    that never committed are dropped (their packages are still in the inbox, to be decided
    again). Call with the hub lock held. Returns how many packages were filed."""
    done = 0
    for journal in sorted(paths.filing.glob("*.json")) if paths.filing.exists() else []:
        doc = _read_journal(journal)
        seq, digest = doc["audit_head"]
        committed = wh.execute(
            "SELECT count(*) FROM audit.events WHERE seq = $s AND hash = $h",
            {"s": seq, "h": digest},
        ).fetchall()[0][0]
        if committed:
            done += sum(Path(e["source"]).exists() for e in doc["entries"])
            _apply_journal(journal)
        else:
            journal.unlink()
    return done


def _in_quarantine(paths: HubPaths, path: Path) -> bool:
    return path.parent.parent.resolve() == paths.quarantine.resolve()


def _moves_to_held(paths: HubPaths, p: Pending) -> bool:
    """Whether the package file moves to quarantine/ or refused/ with this decision: from the
    inbox when held, and from quarantine/ to refused/ when a release is refused (the agreement
    was suspended meanwhile, say), so the file is where its record says."""
    if p.status not in ("refused", "quarantined"):
        return False
    in_inbox = p.path.parent.resolve() == paths.inbox.resolve()
    return in_inbox or (p.status == "refused" and _in_quarantine(paths, p.path))


def _held_dir(paths: HubPaths, p: Pending) -> Path:
    return held_dir(paths, p.status, p.org)


def held_dir(paths: HubPaths, status: str, org: str | None) -> Path:
    """Where a held package of this status and organisation is kept: refused/ or quarantine/."""
    return (paths.refused if status == "refused" else paths.quarantine) / _safe_org(org or "")


def _held_name(paths: HubPaths, p: Pending) -> str:
    """The name a package moving to quarantine/ or refused/ is kept under: its own, unless a
    package held earlier already has it (a renamed or forged file can share a name), then
    with its SHA-256's first 12 hex digits added, so no held package is replaced."""
    name = p.path.name
    if not _moves_to_held(paths, p):
        return name
    if not os.path.exists(_held_dir(paths, p) / name):
        return name
    # Within the file system's 255 bytes a name: found in review, a 248-character name given
    # its 13 more could not be written, and every later run stopped on it.
    # Nor the name of another held file (found in re-review: a file delivered as
    # x-<that hash>.owfpkg earlier was overwritten): a number is added until it is free.
    for n in itertools.count():
        tail = f"-{p.sha256[:12]}{f'-{n}' if n else ''}{p.path.suffix}"
        room = MAX_NAME_BYTES - len(tail.encode())
        held = p.path.stem.encode()[:room].decode("utf-8", "ignore") + tail
        if not os.path.exists(_held_dir(paths, p) / held):
            return held
    raise AssertionError("unreachable")


MAX_NAME_BYTES = 255


def _safe_org(org: str) -> str:
    import re

    return org if re.fullmatch(r"[A-Z0-9]{3,6}", org) else "_unknown"


def receipt_path(paths: HubPaths, p: Pending) -> Path:
    return paths.receipts / _safe_org(p.org) / f"{p.submission_id}.json"


def _receipt_doc(p: Pending, superseded: list[str], release_note: str | None) -> dict:
    m = p.manifest
    receipt = {
        "receipt": "hub ingestion",
        "package_file": p.path.name,
        "package_sha256": p.sha256,
        "submission_id": p.submission_id,
        "org_code": m.get("org_code"),
        "extract": m.get("extract"),
        "period": m.get("period"),
        "status": p.status,
        "reason": p.reason,
        "agreement_id": p.agreement_id,
        "rows": m.get("row_count"),
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "superseded": superseded,
        "release_note": release_note,
        "findings": [f.to_dict() for f in p.reasons],
        "plausibility_only": p.status == "quarantined" and p.plausibility_only,
        "what_to_do": _advice(p),
    }
    return receipt


def _advice(p: Pending) -> str:
    if p.status == "accepted":
        return "Nothing: the submission was accepted."
    if p.status == "duplicate":
        return "Nothing: this exact package was already received."
    if p.status == "quarantined":
        if p.plausibility_only:
            return (
                "Only plausibility checks failed. If the figures are right, the hub can release the"
                " submission; otherwise correct the extract and submit again."
            )
        return "Correct the rows named in the findings at source and submit again (a new package supersedes this one)."
    return "This package cannot be used. Fix the cause named above and prepare a new package."


def _clear_tmp(paths: HubPaths) -> None:
    for child in paths.tmp.iterdir() if paths.tmp.exists() else []:
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise OwfError(message)
