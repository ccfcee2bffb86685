"""What the validator API accepts as audio, and from where: uploads saved with a byte limit, paths
only under the configured root (``VALIDATE_ROOT``), audio that decodes and is not too long.

Every refusal is an :class:`ApiError` (an HTTP status, a message and a code), answered as the
service's JSON error body. Example::

    wav = allowed_path(settings.validate_root, "book/ch1/0001.wav")   # 403 outside the root
    facts = check_audio(wav, settings.max_validate_seconds, name="0001.wav")  # 415 not audio, 413 too long
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import soundfile as sf

from pipeline.serve.protocol import ServiceError
from pipeline.sources import LABEL_SUFFIXES, read_label

COPY_CHUNK = 1 << 20


# The validator API answers refusals exactly as the TTS routes do (JSON ``{"error": {...}}``).
ApiError = ServiceError


@dataclass(frozen=True, slots=True)
class AudioFacts:
    duration_s: float
    sample_rate: int
    channels: int
    format: str


def allowed_path(root: Path | None, given: str, *, want: str) -> Path:
    """``given`` (relative to ``root``, or absolute) resolved, symlinks included, and required to
    lie under the resolved ``root``; ``want`` is ``file`` or ``dir``."""
    if root is None:
        raise ApiError(403, "reading files by path is disabled: the server has no VALIDATE_ROOT", "path_not_allowed")
    base = Path(root).resolve()
    target = (base / given).resolve()  # an absolute ``given`` replaces ``base``
    if target != base and base not in target.parents:
        raise ApiError(403, f"{given!r} is outside the allowed root", "path_not_allowed")
    if not target.exists():
        raise ApiError(404, f"{given!r}: no such file or directory under the allowed root", "not_found")
    if want == "file" and not target.is_file():
        raise ApiError(400, f"{given!r} is not a file", "not_a_file")
    if want == "dir" and not target.is_dir():
        raise ApiError(400, f"{given!r} is not a folder", "not_a_folder")
    return target


def save_upload(source: BinaryIO, destination: Path, max_bytes: int) -> str:
    """Copy an uploaded file to ``destination`` (at most ``max_bytes``: 413 beyond); its sha256."""
    digest = hashlib.sha256()
    written = 0
    with destination.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise ApiError(
                    413, f"audio larger than the limit of {max_bytes} bytes (MAX_VALIDATE_BYTES)", "too_large"
                )
            digest.update(chunk)
            out.write(chunk)
    if written == 0:
        raise ApiError(400, "the uploaded audio is empty", "empty_audio")
    return digest.hexdigest()


def check_audio(path: Path, max_seconds: float, *, name: str, max_bytes: int | None = None) -> AudioFacts:
    """The file decodes as audio with samples in it, no longer than ``max_seconds`` (and, for a
    file read by path, no larger than ``max_bytes``); ``name``: the file as the client knows it."""
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise ApiError(413, f"{name}: larger than the limit of {max_bytes} bytes (MAX_VALIDATE_BYTES)", "too_large")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile says why ("Error opening '<path>': Format not recognised.")
        why = str(exc).rsplit("': ", 1)[-1]
        raise ApiError(415, f"{name}: not a readable audio file ({why})", "not_audio") from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise ApiError(400, f"{name}: the audio has no samples", "empty_audio")
    duration = info.frames / info.samplerate
    if duration > max_seconds:
        message = f"{name}: {duration:.1f} s of audio; the limit is {max_seconds:g} s (MAX_VALIDATE_SECONDS)"
        raise ApiError(413, message, "too_long")
    return AudioFacts(duration, int(info.samplerate), int(info.channels), str(info.format))


def label_beside(wav: Path) -> str | None:
    """The label in ``clip.txt`` or ``clip.lab`` next to ``clip.wav`` (None: no label or empty)."""
    for suffix in LABEL_SUFFIXES:
        sidecar = wav.with_suffix(suffix)
        if sidecar.is_file():
            return read_label(sidecar)[0]
    return None


def clean_text(text: str | None, max_chars: int) -> str | None:
    """The label with whitespace collapsed (None when absent or blank); 413 beyond ``max_chars``."""
    if text is None:
        return None
    if len(text) > max_chars:
        raise ApiError(413, f"text has {len(text)} chars; the limit is {max_chars}", "too_large")
    return " ".join(text.split()) or None


def move_into(source: Path, folder: Path, name: str) -> Path:
    """Move ``source`` to ``folder/name`` (kept as is when already there); the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        source.unlink()
    else:
        shutil.move(str(source), target)
    return target.resolve()
