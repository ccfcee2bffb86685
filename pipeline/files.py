"""File helpers used across the pipeline: a file's sha256, and writes that never leave a
half-written file under the final name (write beside it, then ``os.replace``).

Example::

    write_bytes_atomic(dataset / "wavs/a.wav", wav_bytes)
    with atomic_path(model_file) as tmp:      # stream into tmp; an exception leaves nothing behind
        with tmp.open("wb") as out: ...
    sha256_file(model_file)                    # hex digest, read in 1 MiB blocks
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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
