"""Audio loading for judges: any sample rate or channel count -> mono float32 at the judge's rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


class AudioError(ValueError):
    """The file is missing, empty, corrupt or silent in a way no judge can score."""


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` at its native rate, downmixed to mono float32; returns (audio, rate)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        audio, source_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    if audio.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    mono = audio.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioError(f"{path}: audio contains NaN or infinity")
    return mono, int(source_rate)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode ``path``, downmix to mono and resample (soxr, high quality) to ``sample_rate``."""
    mono, source_rate = read_audio(path)
    if source_rate != sample_rate:
        import soxr

        mono = soxr.resample(mono, source_rate, sample_rate).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)
