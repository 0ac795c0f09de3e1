"""Files written whole and on disk: packages, receipts, the audit head, filing journals.

A file is written under a dotfile name beside its place, synced, renamed into place, and its
folder synced: a reader sees the old file or the new one, never part of one, and after a
power cut the new one is there whole if the call returned. A rename alone is not enough:
without the sync, the kernel may put the rename on disk before the data, and a crash then
leaves an empty file under the final name (XFS, and ext4 mounted without auto_da_alloc).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

from pipelines.errors import OwfError


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Put a folder's entries (a rename, a new or removed file) on disk. Not on Windows,
    where a folder cannot be opened so (an organisation's machine may be one: NTFS journals
    the rename), nor where the file system does not sync folders (EINVAL)."""
    if os.name == "nt":  # pragma: no cover - POSIX here
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def write_whole(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` whole and on disk (see the module's docstring). On an error
    (a full disk, permissions) the file at `path` is as it was and the dotfile is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def check_report_path(report: str | os.PathLike[str] | None, *inputs: Path) -> None:
    """Refuse, before any work, a report path (--json) that is one of the command's inputs
    or a folder. Found in review: `owf submit check export.csv --json export.csv` replaced
    the export with the report."""
    if report is None:
        return
    report = Path(report)
    if report.is_dir():
        raise OwfError(
            f"--json {report} is a folder: give the report a file name. Nothing was read."
        )
    for source in inputs:
        if report.exists() and source.exists() and os.path.samefile(report, source):
            raise OwfError(
                f"--json {report} is the file being checked: the report would replace it. Give"
                " the report another file name. Nothing was read or written."
            )


def write_report(report: str | os.PathLike[str] | None, data: dict) -> None:
    """Write a JSON report whole (--json), or say why it cannot be written."""
    if report is None:
        return
    report = Path(report)
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        write_whole(report, (json.dumps(data, indent=2, default=str) + "\n").encode("utf-8"))
    except OSError as exc:
        raise OwfError(
            f"cannot write the report to {report} ({exc.strerror or exc}); give --json a file"
            " path in a folder you can write to"
        ) from None
