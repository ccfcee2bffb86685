"""Shared batching for model-backed ASR judges (Parakeet, Qwen3-ASR): load and resample every
clip, decode the good ones in groups of ``batch_size``, and turn failures into error results.

A bad file never reaches the model (``load_audio`` rejects it), and a group that makes the
model raise is decoded again one clip at a time, so one poisonous clip costs only its own
result. Each transcript's ``ms`` is its own load time plus a share of its group's decode time
in proportion to its duration. Example::

    transcripts = judge_in_batches(judge, items, 16_000, batch_size=8, decode=my_decode)
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judges.audio import AudioError, load_audio
from judges.base import ASRJudge, AudioItem, Transcript
from verdicts.records import Word

log = logging.getLogger(__name__)

FINGERPRINT_SPAN = 4 << 20  # bytes hashed from each end of a model file


@dataclass(frozen=True, slots=True)
class Decoded:
    """What an engine made of one clip."""

    text: str
    words: tuple[Word, ...] = ()


Decoder = Callable[[list[np.ndarray]], list[Decoded]]


def judge_in_batches(
    judge: ASRJudge,
    items: Sequence[AudioItem],
    sample_rate: int,
    batch_size: int,
    decode: Decoder,
) -> list[Transcript]:
    """One ``Transcript`` per item, in order; ``decode`` gets mono float32 arrays at ``sample_rate``
    and must return one ``Decoded`` per array, in order."""
    info = judge.info
    results: list[Transcript | None] = [None] * len(items)
    loaded: list[tuple[int, np.ndarray, float]] = []  # (index, audio, load ms)
    for index, item in enumerate(items):
        started = time.perf_counter()
        try:
            audio = load_audio(item.audio_path, sample_rate)
        except AudioError as exc:
            results[index] = judge.error_result(item, str(exc))
            continue
        loaded.append((index, audio, (time.perf_counter() - started) * 1000))

    for start in range(0, len(loaded), max(1, batch_size)):
        group = loaded[start : start + max(1, batch_size)]
        for (index, _, load_ms), outcome, decode_ms in _decode_group(group, decode):
            item = items[index]
            if isinstance(outcome, Exception):
                log.warning("%s failed on %s: %s", info.name, item.audio_path, outcome)
                results[index] = judge.error_result(item, f"{type(outcome).__name__}: {outcome}")
            else:
                text = " ".join(outcome.text.split())
                results[index] = Transcript(
                    item.key, info.name, info.model, text, outcome.words, load_ms + decode_ms, None
                )
    return [r for r in results if r is not None]


def _decode_group(
    group: list[tuple[int, np.ndarray, float]], decode: Decoder
) -> list[tuple[tuple[int, np.ndarray, float], Decoded | Exception, float]]:
    audios = [audio for _, audio, _ in group]
    started = time.perf_counter()
    try:
        decoded = decode(audios)
        if len(decoded) != len(audios):
            raise RuntimeError(f"decoder returned {len(decoded)} results for {len(audios)} clips")
    except Exception as exc:  # noqa: BLE001 - retried clip by clip below
        if len(group) == 1:
            return [(group[0], exc, (time.perf_counter() - started) * 1000)]
        log.warning("batch of %d clips failed (%s); decoding them one at a time", len(group), exc)
        return [result for member in group for result in _decode_group([member], decode)]
    elapsed = (time.perf_counter() - started) * 1000
    total = sum(len(a) for a in audios) or 1
    return [(member, out, elapsed * len(member[1]) / total) for member, out in zip(group, decoded, strict=True)]


def clean_span(start: object, end: object) -> tuple[float | None, float | None]:
    """Seconds as plain floats (engines hand back numpy scalars); ``end`` never before ``start``."""
    s = None if start is None else float(start)
    e = None if end is None else float(end)
    if s is not None and e is not None and e < s:
        e = s
    return s, e


def clean_confidence(value: object) -> float | None:
    """A plain float clipped to 0..1, or None."""
    if value is None:
        return None
    c = float(value)
    if not np.isfinite(c):
        return None
    return min(1.0, max(0.0, c))


def model_fingerprint(path: str | Path) -> str:
    """A cheap content fingerprint of a model file or directory: sha256 over the size and the
    first and last 4 MiB of each file (a multi-GB checkpoint is not read whole just to name it)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        name = file.relative_to(path).as_posix() if path.is_dir() else ""  # a renamed file keeps its print
        digest.update(f"{name}:{size}\n".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(FINGERPRINT_SPAN))
            if size > 2 * FINGERPRINT_SPAN:
                fh.seek(size - FINGERPRINT_SPAN)
                digest.update(fh.read(FINGERPRINT_SPAN))
            elif size > FINGERPRINT_SPAN:
                digest.update(fh.read())
    return digest.hexdigest()[:16]
