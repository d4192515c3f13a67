"""Exclusive file locks between processes (POSIX ``flock``).

A lock is held through an open file and the kernel drops it when its holder exits, however it exits
(kill -9 included), so no stale lock is ever left to clean by hand. The file also records who holds
it; a release by a live process (even one leaving by an exception) empties the file, so a record
found on acquiring is that of a holder that died.
Works on a local disk; ``flock`` is not reliable on network file systems.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _read(fd: int) -> dict | None:
    text = os.pread(fd, 65536, 0).decode(errors="replace").strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {"record": text}
    return record if isinstance(record, dict) else {"record": record}


@contextmanager
def exclusive(
    path: Path, holder: dict, on_wait: Callable[[dict], None] | None = None
) -> Iterator[dict | None]:
    """Hold an exclusive lock on `path` (created if needed) for the block.

    While another process holds it, ``on_wait(its record)`` is called once and the call blocks until
    the lock is free. `holder` (JSON) is written into the file while this process holds it. The block
    receives the record of a previous holder that died holding the lock, or None.
    Raises OSError when the file cannot be created (a read-only or missing folder).

    >>> import tempfile
    >>> lock = Path(tempfile.mkdtemp()) / "x.lock"
    >>> with exclusive(lock, {"pid": 1}) as abandoned:
    ...     json.loads(lock.read_text()), abandoned
    ({'pid': 1}, None)
    >>> lock.read_text()
    ''
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(_read(fd) or {})
            fcntl.flock(fd, fcntl.LOCK_EX)
        abandoned = _read(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield abandoned
        finally:
            os.ftruncate(fd, 0)  # released by a live process: the next holder finds nothing
    finally:
        os.close(fd)  # closing the file releases the lock
