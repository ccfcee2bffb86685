"""Audio for the review pages: the wav a row points to, only inside a known dataset root, and a
waveform + spectrogram picture of it.

A request names a clip by (dataset, file_hash), never by path: the path comes from the row, and
is served only when it resolves (symlinks followed) inside one of the roots the app was started
with (``<work>/datasets`` and any ``--root``). A relative path is relative to
``<datasets_dir>/<dataset>``, as everywhere else (pipeline/export/audio.py).

Example::

    wav = clip_file(row, roots=(Path("work/datasets"),), datasets_dir=Path("work/datasets"))
    png = waveform_png(wav)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path


class AudioRefused(LookupError):
    """The row's file is missing or lies outside every known root; the message says which."""


def clip_file(row: dict, *, roots: Sequence[Path], datasets_dir: Path) -> Path:
    """The clip's wav on disk, resolved; raises AudioRefused when it is not servable."""
    raw = row.get("path")
    if not raw:
        raise AudioRefused("the row has no path")
    path = Path(raw)
    candidate = path if path.is_absolute() else datasets_dir / row["dataset"] / path
    resolved = candidate.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise AudioRefused(f"{raw} lies outside the known dataset roots")
    if not resolved.is_file():
        raise AudioRefused(f"wav missing: {raw}")
    return resolved


def waveform_png(wav: Path, *, width_px: int = 900, height_px: int = 260) -> bytes:
    """Waveform (top) and log-magnitude spectrogram (bottom), both over the clip's seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    seconds = len(mono) / rate if rate else 0.0
    dpi = 100
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(width_px / dpi, height_px / dpi), dpi=dpi, sharex=True, gridspec_kw={"height_ratios": [1, 2]}
    )
    try:
        times = np.arange(len(mono)) / rate
        step = max(1, len(mono) // 4000)  # a few thousand points draw the same picture
        top.plot(times[::step], mono[::step], linewidth=0.5, color="#2b6cb0")
        top.set_ylim(-1, 1)
        top.set_yticks([])
        if len(mono) >= 512:
            with np.errstate(divide="ignore"):  # digital silence: log10(0) is drawn as the darkest colour
                bottom.specgram(mono, NFFT=512, Fs=rate, noverlap=384, cmap="magma")
        bottom.set_ylabel("Hz")
        bottom.set_xlabel("seconds")
        bottom.set_xlim(0, seconds)
        fig.tight_layout(pad=0.3)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return buffer.getvalue()
