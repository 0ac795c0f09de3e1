"""Packages the hub did not land: list, release (plausibility failures only), discard. All logged.

Two kinds are held: *quarantined* (they failed validation: the standard's rules or the
plausibility checks; in quarantine/<ORG>/) and *refused* (governance or cryptography said no:
unknown organisation, bad signature, no agreement...; in refused/<ORG>/). Only a quarantined
submission whose sole failures were plausibility checks can be released; any held package
can be discarded, which deletes its file (it holds stage-1 pseudonyms) and keeps the record.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import OwfError
from pipelines.hub import audit
from pipelines.hub.home import HubPaths
from pipelines.hub.ingest import _safe_org, held_dir, ingest, write_receipt
from pipelines.hub.warehouse import connect, ensure_schema, missing_warehouse
from pipelines.standard import load_standard

HELD = ("quarantined", "refused")


@dataclass(frozen=True)
class Quarantined:
    submission_id: str
    org_code: str
    extract: str
    period: str
    decided_at: dt.datetime
    reason: str
    package: Path
    receipt: dict
    status: str = "quarantined"
    package_sha256: str | None = None

    @property
    def releasable(self) -> bool:
        return self.status == "quarantined" and bool(self.receipt.get("plausibility_only"))


def _receipt(paths: HubPaths, org: str, sid: str) -> dict:
    path = paths.receipts / org / f"{sid}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def list_quarantined(
    paths: HubPaths, statuses: tuple[str, ...] = HELD, on_wait=None
) -> list[Quarantined]:
    """Held submissions (quarantined and refused by default), oldest decision first."""
    if not paths.warehouse.exists():
        # A lost warehouse is not "nothing held" (found in review: the list said so while
        # refused/ held a package, and discard said there was no such submission).
        lost = missing_warehouse(paths)
        if lost:
            raise OwfError(lost)
        return []
    with connect(paths, write=False, on_wait=on_wait) as wh:
        rows = wh.execute(
            "SELECT submission_id, org_code, extract, period, decided_at, status_reason,"
            " package_file, status, package_sha256 FROM raw.submissions"
            " WHERE list_contains($statuses, status)"
            " ORDER BY decided_at, submission_id",
            {"statuses": list(statuses)},
        ).fetchall()
    return [
        Quarantined(
            sid,
            org,
            ext,
            period,
            at,
            reason,
            held_dir(paths, status, org) / file,
            _receipt(paths, _safe_org(org or ""), sid),
            status,
            sha,
        )
        for sid, org, ext, period, at, reason, file, status, sha in rows
    ]


def _find(paths: HubPaths, submission_id: str) -> Quarantined:
    """The held submission with this id, or the one whose id starts with it (8 characters or
    more); a prefix that fits more than one is an error, never a guess."""
    submission_id = submission_id.strip().lower()  # ids are lower-case hex
    held = list_quarantined(paths)
    for q in held:
        if q.submission_id == submission_id:
            return q
    matches = (
        [q for q in held if q.submission_id.startswith(submission_id)]
        if len(submission_id) >= 8
        else []
    )
    if len(matches) > 1:
        raise OwfError(
            f"{submission_id!r} is the start of {len(matches)} held submissions' ids ("
            + ", ".join(q.submission_id for q in matches[:5])
            + "); give more of the id. Nothing was changed."
        )
    if matches:
        return matches[0]
    if len(submission_id) < 8:
        raise OwfError(
            f"{submission_id!r} is too short to name a submission: give at least 8 characters of"
            " its id (`owf quarantine list` shows them). Nothing was changed."
        )
    decided = _decided(paths, submission_id)
    if decided:
        sid, status, at = decided
        raise OwfError(
            f"submission {sid} is no longer held: it is {status}"
            + (f" (since {at:%Y-%m-%d %H:%M} UTC)" if at else "")
            + ", so there is nothing to release or discard. Nothing was changed."
        )
    raise OwfError(
        f"no quarantined or refused submission {submission_id!r}; `owf quarantine list` shows them"
    )


def _decided(paths: HubPaths, prefix: str) -> tuple | None:
    """(id, status, decided at) of the one submission whose id starts with `prefix`, if any."""
    if not paths.warehouse.exists():
        lost = missing_warehouse(paths)
        if lost:
            raise OwfError(lost)
        return None
    with connect(paths, write=False) as wh:
        rows = wh.execute(
            "SELECT submission_id, status, decided_at FROM raw.submissions"
            " WHERE starts_with(submission_id, $p) LIMIT 2",
            {"p": prefix},
        ).fetchall()
    return rows[0] if len(rows) == 1 else None


def release(paths: HubPaths, submission_id: str, note: str, actor: str) -> str:
    """Land a quarantined submission whose only failures were plausibility checks."""
    if not note.strip():
        raise OwfError("say why the submission is released (--reason): it goes in the audit log")
    q = _find(paths, submission_id)
    if q.status == "refused":
        raise OwfError(
            f"submission {q.submission_id} was refused ({q.reason}): the registry, an agreement or"
            " the package's signature or encryption said no, which a release cannot override. Fix"
            " the cause (register the key, agree the extract) and ask the organisation to submit"
            " again; `owf quarantine discard` removes this package."
        )
    if not q.releasable:
        raise OwfError(
            f"submission {q.submission_id} failed the standard's rules, not only plausibility checks;"
            " it cannot be released. The organisation must correct the extract and submit again."
        )
    if not os.path.exists(q.package):
        raise _missing_package(paths, q, "release")
    import hashlib

    try:
        sha = hashlib.sha256(q.package.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise _taken_meanwhile(paths, q, "release") from None
    if q.package_sha256 and sha != q.package_sha256:
        # Found in review: a file damaged since it was quarantined was ingested as a new
        # package, refused under a record of its own and moved to refused/_unknown/, while
        # the message said the submission was "now held as quarantined" there.
        raise OwfError(
            f"the file {q.package} is not the package quarantined as {q.submission_id}: its"
            f" SHA-256 is {sha[:16]}..., the package's was {q.package_sha256[:16]}..., so it"
            " was changed or damaged since. Nothing was done. Restore the file from the hub's"
            " backup and release it again, or discard the submission and ask"
            f" {q.org_code} to submit again."
        )
    result = ingest(paths, [q.package], release={sha: note}, actor=actor)
    if not result.outcomes:  # the package was gone once the warehouse was held
        raise _taken_meanwhile(paths, q, "release")
    [outcome] = result.outcomes
    if outcome.status not in ("accepted", "superseded"):
        now = next((x for x in list_quarantined(paths) if x.submission_id == q.submission_id), None)
        held = f" The package is now held as {now.status}, at {now.package}." if now else ""
        todo = (
            " A refused submission cannot be released: once the cause named in its receipt is"
            " fixed, ask the organisation to submit again, and discard this one."
            if outcome.status == "refused"
            else " Its receipt names the findings; the organisation corrects and submits again."
        )
        raise OwfError(
            f"release of {q.submission_id} did not land it: {outcome.status} ({outcome.reason})."
            + held
            + todo
        )
    return outcome.status


def discard(
    paths: HubPaths, submission_id: str, note: str, actor: str, *, file_gone: bool = False
) -> None:
    """Give up on a held (quarantined or refused) submission: its package file is deleted;
    the record stays, with status `discarded`. The file must be where the record puts it
    (it holds stage-1 pseudonyms, so it must not be left somewhere unnoticed): if it is not,
    nothing changes, unless `file_gone` says it is known to be lost."""
    if not note.strip():
        raise OwfError("say why the submission is discarded (--reason): it goes in the audit log")
    q = _find(paths, submission_id)
    missing = not os.path.exists(q.package)
    if missing and not file_gone:
        raise _missing_package(paths, q)
    std = load_standard()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with connect(paths) as wh:
        ensure_schema(wh, std)
        wh.execute("BEGIN TRANSACTION")
        # Found in review: the status was read before the warehouse was taken, and the update
        # did not look at it again. A release (or another discard) landing between the two
        # was overwritten: an accepted submission became `discarded` with its rows still in
        # raw, left out of every publication and never purged.
        (status,) = wh.execute(
            "SELECT status FROM raw.submissions WHERE submission_id = $s", {"s": q.submission_id}
        ).fetchone()
        if status != q.status:
            wh.execute("ROLLBACK")
            raise OwfError(
                f"submission {q.submission_id} is no longer held as {q.status}: it became"
                f" {status} while this command waited for the warehouse (another `owf"
                " quarantine` command or an ingestion). Nothing was changed; `owf quarantine"
                " list` shows what is held."
            )
        wh.execute(
            "UPDATE raw.submissions SET status = 'discarded', status_reason = $r, decided_at = $now"
            " WHERE submission_id = $s",
            {"r": f"discarded: {note}", "now": now, "s": q.submission_id},
        )
        audit.append(
            wh,
            "discarded",
            actor=actor,
            submission_id=q.submission_id,
            org_code=q.org_code,
            extract=q.extract,
            period=q.period,
            detail={"note": note} | ({"file_gone": str(q.package)} if missing else {}),
        )
        wh.execute("COMMIT")
        audit.write_head(paths, wh)
        # The file and the receipt follow the record while the warehouse is still held, so
        # no other command sees one without the other; the receipt is written whole.
        q.package.unlink(missing_ok=True)
        write_receipt(
            paths.receipts / _safe_org(q.org_code or "") / f"{q.submission_id}.json",
            dict(q.receipt, status="discarded", discard_note=note),
        )


def _taken_meanwhile(paths: HubPaths, q: Quarantined, action: str) -> OwfError:
    """The error for a held package that another command (a release, a discard) dealt with
    while this one waited. Found in review: two operators releasing the same package, or one
    releasing while another discarded, got a Python trace."""
    decided = _decided(paths, q.submission_id)
    now = f"it is now {decided[1]}" if decided else "it is no longer held"
    return OwfError(
        f"submission {q.submission_id} was dealt with by another command while this {action}"
        f" waited: {now}. This {action} changed nothing; `owf quarantine list` shows what is"
        " held."
    )


def _missing_package(paths: HubPaths, q: Quarantined, action: str = "discard") -> OwfError:
    """The error for a held package whose file is not where its record puts it."""
    org = _safe_org(q.org_code or "")
    elsewhere = [
        f
        for f in (paths.quarantine / org / q.package.name, paths.refused / org / q.package.name)
        if f != q.package and os.path.exists(f)
    ]
    where = (
        f" A file of that name is at {elsewhere[0]} (a decision cut short before its file"
        f" moved): move it to {q.package.parent}/ and {action} again."
        if elsewhere
        else f" Find it (another folder, a backup) and put it there, then {action} again; if it"
        " is lost for good, `owf quarantine discard ID --reason ... --file-gone` records the"
        " discard without deleting it"
        + (" (the organisation then submits again)." if action == "release" else ".")
    )
    need = (
        "release must land it from that file"
        if action == "release"
        else "discard must delete it (it holds stage-1 pseudonyms)"
    )
    return OwfError(
        f"submission {q.submission_id} is {q.status}, and its record puts its package file at"
        f" {q.package}, but there is no such file: {need}. Nothing was changed.{where}"
    )
