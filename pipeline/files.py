"""File helpers used across the pipeline: a file's sha256, and writes that never leave a
half-written file under the final name (write beside it, then ``os.replace``).

Example::

    write_bytes_atomic(dataset / "wavs/a.wav", wav_bytes)
    with atomic_path(model_file) as tmp:      # stream into tmp; an exception leaves nothing behind
        with tmp.open("wb") as out: ...
    sha256_file(model_file)                    # hex digest, read in 1 MiB blocks
    remove_stale_temporaries(dataset)          # what killed writers left behind
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read in blocks (a multi-GB file is never held whole)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def temporary_sibling(path: Path) -> Path:
    """A hidden temporary name beside ``path``, unique per process and call (created later with
    the usual umask permissions, unlike ``mkstemp``'s 0600)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


# ``temporary_sibling`` names: .<name>.<pid>.<8 hex>.tmp
_TEMPORARY = re.compile(r"\..+\.(\d+)\.[0-9a-f]{8}\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | Path, max_age_s: float = 3600.0) -> int:
    """Delete the temporary siblings under ``folder`` that a killed writer left (its process is
    gone from this host, or the file is older than ``max_age_s``: a write takes seconds); returns
    how many. A live writer's file is left alone."""
    removed = 0
    now = time.time()
    for path in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        try:
            stale = not _alive(int(match.group(1))) or now - path.stat().st_mtime > max_age_s
            if stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # its writer finished (renamed it) meanwhile
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (its folder created); when the block ends normally
    the temporary file replaces ``path`` in one step, when it raises the file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; ``fsync``: also flush it to disk before the rename."""
    with atomic_path(path) as tmp, tmp.open("xb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def write_text_atomic(path: str | Path, text: str, *, fsync: bool = False) -> None:
    """``write_bytes_atomic`` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)
