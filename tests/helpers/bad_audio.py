"""Audio files every judge must turn into an error result instead of a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_bad_audio(out: Path) -> dict[str, Path]:
    """``corrupt`` (a RIFF header with garbage), ``empty`` (0 samples) and ``missing`` (no file)."""
    paths = {"corrupt": out / "corrupt.wav", "empty": out / "empty.wav", "missing": out / "missing.wav"}
    paths["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really a wav file")
    sf.write(paths["empty"], np.zeros(0, dtype=np.float32), 16_000)
    return paths
