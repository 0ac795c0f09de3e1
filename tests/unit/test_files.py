"""Files written whole and on disk (pipelines.files), and the writers that must use it.

A power cut cannot be staged in a test, so these check what survives one: the data is
synced before the rename and the folder after it, in that order (os.fsync and os.replace
are the boundary, recorded as they are called), and a failed write leaves the old file.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from pipelines import files
from pipelines.hub import audit, ingest
from pipelines.hub.home import HubPaths


@pytest.fixture
def calls(monkeypatch):
    """What was synced and renamed, in order: ("fsync", path) and ("replace", src, dst)."""
    seen: list[tuple] = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        seen.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        return fsync(fd)

    def recording_replace(src, dst):
        seen.append(("replace", Path(src), Path(dst)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return seen


def synced_then_renamed(seen: list[tuple], target: Path) -> bool:
    """True when `target` came from a file synced before its rename, and its folder was
    synced after it."""
    renames = [i for i, c in enumerate(seen) if c[0] == "replace" and c[2] == target]
    if len(renames) != 1:
        return False
    i = renames[0]
    source = seen[i][1]
    return ("fsync", source) in seen[:i] and ("fsync", target.parent) in seen[i + 1 :]


def test_a_file_is_written_whole_synced_and_renamed_into_place(tmp_path, calls):
    target = tmp_path / "receipt.json"
    target.write_bytes(b"old")
    assert files.write_whole(target, b"new") == target
    assert target.read_bytes() == b"new"
    assert synced_then_renamed(calls, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["receipt.json"]


def test_a_write_that_fails_leaves_the_old_file_and_no_dotfile(tmp_path, monkeypatch):
    target = tmp_path / "audit-head.json"
    target.write_bytes(b"old")

    def full_disk(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        files.write_whole(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit-head.json"]


def test_the_audit_head_is_on_disk_before_anything_else_goes_on(tmp_path, calls):
    """Found in review: the head was renamed into place unsynced. A power cut could leave it
    empty, and a hub whose head cannot be read fails `owf audit verify` ("head missing"),
    which holds back ingestion and publication until a restore nothing needed."""
    paths = HubPaths.at(tmp_path / "hub", governance=tmp_path / "governance")
    paths.audit_head.parent.mkdir(parents=True)
    audit.record_head(paths, (7, "ab" * 32))
    assert json.loads(paths.audit_head.read_text()) == {"seq": 7, "hash": "ab" * 32}
    assert synced_then_renamed(calls, paths.audit_head)


def test_a_receipt_is_on_disk_before_its_journal_is_removed(tmp_path, calls):
    """Found in review: receipts were renamed into place unsynced, and the filing journal
    that lists them is removed once they are written: a power cut could leave an empty
    receipt that nothing would write again."""
    path = tmp_path / "receipts" / "RW1" / "abc.receipt.json"
    ingest.write_receipt(path, {"status": "accepted"})
    assert json.loads(path.read_text()) == {"status": "accepted"}
    assert synced_then_renamed(calls, path)
