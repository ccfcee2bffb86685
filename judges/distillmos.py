"""DistillMOS (Stahl & Gamper, 2025: a small CNN + transformer distilled from XLS-R SQA) as a
quality judge, with the weights PyPI ``distillmos`` 0.9.1 ships (``weights/distill_mos_v7.pt``).

Example::

    judge = DistillMOSJudge(); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].values   # {"mos_distillmos": 3.9}

Audio is scored at 16 kHz mono; the model peak-normalizes each clip, cuts it into 7.68 s
windows hopping at most 1 s (zero-padding a shorter clip) and averages them, giving 1..5.
Clips run one at a time so that a clip's score never depends on what it was batched with
(padding to a common length would change it). Measured on a 2-core CPU: ~35 ms per audio
second on 1.6-8 s Kokoro clips, ~95 ms on 17 s clips (one 7.68 s window per second beyond 7.68 s).

Importing torchaudio is avoided on purpose: ``distillmos/__init__.py`` imports ``sqa.py``,
which has ``import torchaudio`` at module top, but torchaudio is used only by its command-line
file reader, and it is not installed here (pip would pull torchaudio 2.11.0, built for
another torch than this project's 2.13). So ``_model_class`` imports it under
``judges.packages.torchaudio_placeholder``. Audio is read with ``judges.audio.load_audio``
(soundfile + soxr) instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from judges.audio import AudioError
from judges.base import MOSJudge
from judges.packages import package_dir, package_version, torchaudio_placeholder

log = logging.getLogger(__name__)

DISTILLMOS_SAMPLE_RATE = 16_000
WEIGHTS = "weights/distill_mos_v7.pt"
VALUE_KEY = "mos_distillmos"


def distillmos_dir() -> Path | None:
    """Where ``distillmos`` is installed, found without importing it."""
    return package_dir("distillmos")


def missing_reason() -> str | None:
    """Why DistillMOS cannot run here, or None when it can."""
    root = distillmos_dir()
    if root is None:
        return "distillmos: package distillmos not installed (pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0)"
    if importlib.util.find_spec("xls_r_sqa") is None:
        return "distillmos: its dependency xls-r-sqa is not installed (pip install --no-deps xls-r-sqa==0.1.0)"
    if not (root / WEIGHTS).is_file():
        return f"distillmos: weights {WEIGHTS} missing from {root}"
    return None


def _model_class() -> type:
    """``distillmos.sqa.ConvTransformerSQAModel``, imported without needing torchaudio."""
    loaded = sys.modules.get("distillmos.sqa")
    if loaded is not None:
        return loaded.ConvTransformerSQAModel
    with torchaudio_placeholder("distillmos"):
        from distillmos.sqa import ConvTransformerSQAModel
    return ConvTransformerSQAModel


class DistillMOSJudge(MOSJudge):
    sample_rate = DISTILLMOS_SAMPLE_RATE
    model_name = "DistillMOS v7 (distill_mos_v7.pt)"

    def __init__(
        self, *, name: str = "distillmos", device: str = "auto", threads: int = 0, batch_size: int = 8
    ) -> None:
        """``device``: auto | cpu | cuda | cuda:N; ``threads``: torch intra-op threads, set in
        ``setup`` (process-wide; 0 = leave torch's setting alone); ``batch_size``: items a
        scheduler should hand over at a time (clips run one by one, see the module doc)."""
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)

    @property
    def version(self) -> str:
        return f"{package_version('distillmos')}, {package_version('torch')}"

    def unavailable_reason(self) -> str | None:
        return missing_reason()

    def _load(self) -> tuple[Any, str]:
        device = self._torch_device()  # imports torch before distillmos does, under the placeholder
        model_class = _model_class()
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # it prints where the weights came from
            model = model_class(load_weights=True, segmenting_in_forward=True)
        log.info("%s", printed.getvalue().strip())
        log.info("loaded DistillMOS on %s", device)
        return model.eval().to(device), device

    def score_array(self, audio: np.ndarray) -> float:
        """The MOS (1..5) of 16 kHz mono float audio."""
        self._check_loaded()
        if audio.size == 0:
            raise AudioError("empty audio (0 samples)")
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, :].to(self._device_used)
            mos = float(self._model(x).reshape(-1)[0].item())
        if not math.isfinite(mos):
            raise ValueError("DistillMOS returned a non-finite score")
        return mos

    def score_audio(self, audio: np.ndarray) -> dict[str, float]:
        return {VALUE_KEY: self.score_array(audio)}
