"""Files written whole and on disk: packages, receipts, the audit head, filing journals.

A file is written under a dotfile name beside its place, synced, renamed into place, and its
folder synced: a reader sees the old file or the new one, never part of one, and after a
power cut the new one is there whole if the call returned. A rename alone is not enough:
without the sync, the kernel may put the rename on disk before the data, and a crash then
leaves an empty file under the final name (XFS, and ext4 mounted without auto_da_alloc).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Put a folder's entries (a rename, a new or removed file) on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
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
