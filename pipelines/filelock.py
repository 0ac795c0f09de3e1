"""An exclusive lock on a file, for a short piece of work that one process at a time may do
(the hub's warehouse has its own, with waiting messages: pipelines/hub/warehouse.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike[str], name: str) -> Iterator[None]:
    """Holds an exclusive flock on the file `name` in `folder` (both created if need be),
    waiting for it. flock: per open file, so threads of one process wait for each other too;
    let go when the file is closed, or however the process ends. Where there is no flock (not
    POSIX: an organisation's Windows machine, which runs none of the locked work), nothing is
    locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    os.makedirs(folder, exist_ok=True)
    fd = os.open(Path(folder) / name, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
