"""Signal metrics: model-free measurements of every clip (numpy only), stored in the
``audio_quality`` ``signal`` columns.

Example::

    signal_metrics_for_file("clip.wav")["rms_db"]   # -21.4

Definitions (audio as float, full scale = 1.0; "frame" = consecutive non-overlapping 20 ms
frames, a trailing partial frame dropped, a clip shorter than 20 ms is one frame; levels in
dB are floored at ``DB_FLOOR`` = -120 dBFS so digital silence stays finite):

- ``duration_s``: samples / sample rate.
- ``sample_rate``: Hz, as given (files: their native rate, no resampling).
- ``peak_amplitude``: max |x| (0..1 for float files; above 1 possible for float input).
- ``rms_db``: 20*log10(rms of the whole clip), dBFS (a full-scale sine is -3.01).
- ``clipping_pct``: share of samples with |x| >= 0.999, in percent.
- ``silence_pct``: share of frames whose rms is below -40 dBFS, in percent.
- ``energy_std``: standard deviation of the frame rms (linear, full scale = 1).
- ``dynamic_range_db``: p95 - p5 of the frame rms in dB (so 0..120).
- ``zero_crossing_rate``: share of adjacent sample pairs whose sign differs (x >= 0 counts as
  positive), crossings per sample, 0..1: a sine of f Hz gives 2f / sample_rate.
- ``spectral_centroid_hz``: centroid of the clip's mean magnitude spectrum (Hann frames of
  2048 samples, hop 1024, zero-padded when shorter), sum(f*|X|) / sum(|X|); 0 for silence.
- ``spectral_rolloff_hz``: lowest frequency below which 85 % of the mean power spectrum lies
  (the same frames); 0 for silence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAME_SECONDS = 0.02
SILENCE_DB = -40.0
CLIP_LEVEL = 0.999
DB_FLOOR = -120.0
N_FFT = 2048
HOP = 1024
ROLLOFF = 0.85
_FFT_BLOCK = 256  # frames per rfft call, bounds memory on long files

METRIC_KEYS = (
    "duration_s",
    "sample_rate",
    "peak_amplitude",
    "rms_db",
    "clipping_pct",
    "silence_pct",
    "energy_std",
    "dynamic_range_db",
    "zero_crossing_rate",
    "spectral_centroid_hz",
    "spectral_rolloff_hz",
)


def _db(amplitude: np.ndarray | float) -> np.ndarray | float:
    return 20.0 * np.log10(np.maximum(amplitude, 10.0 ** (DB_FLOOR / 20.0)))


def _as_mono_float(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.integer):  # PCM integers -> full scale 1.0
        audio = audio / float(2 ** (8 * audio.dtype.itemsize - 1))
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2:  # (samples, channels), as soundfile returns it
        audio = audio.mean(axis=1)
    elif audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (mono) or 2-D (samples, channels), got shape {audio.shape}")
    return audio


def _frame_rms(x: np.ndarray, frame: int) -> np.ndarray:
    n_frames = len(x) // frame
    if n_frames == 0:
        return np.array([np.sqrt(np.mean(x * x))])
    frames = x[: n_frames * frame].reshape(n_frames, frame)
    return np.sqrt(np.mean(frames * frames, axis=1))


def _mean_spectra(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean magnitude and mean power spectrum over Hann frames (N_FFT, HOP)."""
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    window = np.hanning(N_FFT)
    mag = np.zeros(N_FFT // 2 + 1)
    power = np.zeros(N_FFT // 2 + 1)
    for start in range(0, len(frames), _FFT_BLOCK):
        spec = np.abs(np.fft.rfft(frames[start : start + _FFT_BLOCK] * window, axis=1))
        mag += spec.sum(axis=0)
        power += (spec * spec).sum(axis=0)
    return mag / len(frames), power / len(frames)


def signal_metrics(audio: np.ndarray, sample_rate: int) -> dict:
    """The 11 metrics of ``audio`` (mono float, or (samples, channels), downmixed) at
    ``sample_rate`` Hz; see the module doc. Empty or non-finite audio is a ValueError."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    x = _as_mono_float(audio)
    if x.size == 0:
        raise ValueError("empty audio (0 samples): no signal metrics")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinity")

    magnitude = np.abs(x)
    rms = float(np.sqrt(np.mean(x * x)))
    frame_rms = _frame_rms(x, max(1, round(FRAME_SECONDS * sample_rate)))
    frame_db = _db(frame_rms)
    positive = x >= 0
    zcr = float(np.count_nonzero(positive[1:] != positive[:-1]) / (len(x) - 1)) if len(x) > 1 else 0.0

    mag, power = _mean_spectra(x)
    freqs = np.fft.rfftfreq(N_FFT, d=1.0 / sample_rate)
    centroid = float((freqs * mag).sum() / mag.sum()) if mag.sum() > 0 else 0.0
    total = power.sum()
    if total > 0:
        cumulative = np.cumsum(power)
        rolloff = float(freqs[min(int(np.searchsorted(cumulative, ROLLOFF * total)), len(freqs) - 1)])
    else:
        rolloff = 0.0

    return {
        "duration_s": len(x) / sample_rate,
        "sample_rate": int(sample_rate),
        "peak_amplitude": float(magnitude.max()),
        "rms_db": float(_db(rms)),
        "clipping_pct": float(100.0 * np.count_nonzero(magnitude >= CLIP_LEVEL) / len(x)),
        "silence_pct": float(100.0 * np.count_nonzero(frame_db < SILENCE_DB) / len(frame_db)),
        "energy_std": float(np.std(frame_rms)),
        "dynamic_range_db": float(np.percentile(frame_db, 95) - np.percentile(frame_db, 5)),
        "zero_crossing_rate": zcr,
        "spectral_centroid_hz": centroid,
        "spectral_rolloff_hz": rolloff,
    }


def signal_metrics_for_file(path: str | Path) -> dict:
    """``signal_metrics`` of an audio file at its native rate, downmixed to mono. A missing,
    undecodable or empty file is a ValueError (``judges.audio.AudioError``)."""
    from judges.audio import AudioError, read_audio

    audio, rate = read_audio(path)
    try:
        return signal_metrics(audio, rate)
    except ValueError as exc:
        raise AudioError(f"{path}: {exc}") from exc
