"""An export's file, written whole or not at all."""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from pathlib import Path

from gatecam.errors import GatecamError, InputError
from gatecam.storage.local import write_atomic

# A full or failing disk is the machine's trouble, not the command's: not exit 2.
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def write_export(path: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``path`` atomically, so a stopped export leaves nothing; the size.

    Failures are one line: GatecamError (exit 1) for a full or failing disk, InputError
    (exit 2) for a path that cannot be written.
    """
    written = 0

    def counted() -> Iterator[bytes]:
        nonlocal written
        for chunk in chunks:
            written += len(chunk)
            yield chunk

    try:
        write_atomic(path, counted())
    except OSError as exc:
        problem = f"{path}: {exc.strerror or exc}; nothing was kept"
        if exc.errno in _MACHINE_ERRNOS:
            raise GatecamError(problem) from None
        raise InputError(problem) from None
    return written
