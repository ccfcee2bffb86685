"""The selected rows' wavs, read once each, checked, and named inside the export.

A row's ``path`` is relative to ``<datasets_dir>/<dataset>/`` or absolute. A wav that is missing,
unreadable or (``verify_hash``) no longer the one that was scored is skipped and recorded; the
same file twice is exported once. ``pcm16`` resamples with soxr for formats with a fixed rate.

Example::

    loader = ClipLoader(datasets_dir / "main", verify_hash=True)
    for clip in loader.load(rows):
        clip.name, clip.seconds, len(clip.data)
    loader.skipped  # [SkippedClip(...), ...]
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SkippedClip:
    file_hash: str
    path: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Clip:
    row: dict[str, Any]
    name: str  # path inside the export (posix, relative), e.g. alice/af_heart/chunk_00001.wav
    data: bytes  # the wav file as stored
    seconds: float
    sample_rate: int

    @property
    def clip_id(self) -> str:
        """A flat id (LJSpeech file stem, lhotse recording id): the name with every separator as ``_``."""
        return re.sub(r"[^A-Za-z0-9_-]+", "_", self.name.removesuffix(".wav")).strip("_")


def export_name(path: str, file_hash: str) -> str:
    """The dataset-relative path, kept as is; absolute or escaping paths go under external/."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if not posix.is_absolute() and ".." not in posix.parts and posix.name:
        return posix.as_posix()
    return f"external/{file_hash[:16]}_{posix.name or 'clip.wav'}"


def _read(path: str | None, file_hash: str, dataset_dir: Path, verify_hash: bool) -> tuple[bytes, Any] | str:
    """(wav bytes, info), or why the clip cannot be exported."""
    if not path:
        return "the row has no path"
    source = Path(path) if Path(path).is_absolute() else dataset_dir / path
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        return f"wav missing: {source}"
    except OSError as exc:
        return f"wav unreadable: {source}: {exc.strerror or exc}"
    if verify_hash and hashlib.sha256(data).hexdigest() != file_hash:
        return f"wav changed since it was scored (sha256 differs from file_hash): {source}"
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError) as exc:
        return f"not a readable audio file: {source}: {exc}"
    return data, info


@dataclass
class ClipLoader:
    dataset_dir: Path
    verify_hash: bool = True
    skipped: list[SkippedClip] = field(default_factory=list)
    _names: dict[str, str] = field(default_factory=dict)  # export name -> file_hash already exported

    def load(self, rows: Iterable[dict[str, Any]]) -> Iterator[Clip]:
        """The rows' audio, one clip at a time; what cannot be exported goes to ``skipped``."""
        for row in rows:
            file_hash, path = row["file_hash"], row["path"]
            loaded = _read(path, file_hash, self.dataset_dir, self.verify_hash)
            name = export_name(path, file_hash) if path else ""
            if not isinstance(loaded, str) and name in self._names:
                loaded = f"same file as the row {self._names[name][:16]}, already exported: {path}"
            if isinstance(loaded, str):
                self.skipped.append(SkippedClip(file_hash, path, loaded))
                log.debug("skipped %s: %s", path or file_hash, loaded)
                continue
            data, info = loaded
            self._names[name] = file_hash
            seconds = info.frames / info.samplerate if info.samplerate else 0.0
            yield Clip(row, name, data, seconds, info.samplerate)


def pcm16(data: bytes, sample_rate: int) -> bytes:
    """A wav file's audio as mono PCM16 wav bytes at ``sample_rate`` (soxr, high quality)."""
    import soxr

    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    samples = np.round(np.clip(mono, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()
