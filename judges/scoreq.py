"""SCOREQ (Ragano et al., 2024: wav2vec 2.0 + a MOS head trained with a triplet loss) as a
quality judge, no-reference mode, both domains: ``synthetic`` (trained on TTS/VC speech, the
primary score) and ``natural`` (the "telephone" model), through PyPI ``scoreq`` 1.0.1.

Example::

    judge = SCOREQJudge(models_dir="models/scoreq"); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].values
    # {"mos_scoreq_synthetic": 4.1, "mos_scoreq_natural": 3.7}

Weights: scoreq's default (and fastest) path runs ONNX exports of the models, which it
downloads from Zenodo (record 15739280) into ``~/.cache/scoreq/onnx-models``. Nothing is
downloaded here: ``models_dir`` (``PIPELINE_SCOREQ_MODELS_DIR``, default that same cache
folder) must hold ``adapt_nr_synthetic.onnx`` and ``adapt_nr_telephone.onnx`` under those
names. Loading is the library's ``Scoreq._init_onnx`` (its file naming per domain and mode,
its execution-provider choice, ``onnxruntime.InferenceSession``) with its downloader pointed at
``models_dir``; scoring is its ``Scoreq._predict_onnx`` (``dynamic_pad`` to a multiple of the
wav2vec 2.0 stride, one session run, one score) with its torchaudio file reader replaced by
``judges.audio.load_audio`` (16 kHz mono, soxr).

Two things in the package are avoided on purpose:

- ``import scoreq`` runs ``scoreq/__init__.py``, which builds a ``Scoreq()`` at import time and so
  downloads a model from Zenodo; the module ``scoreq/scoreq.py`` is therefore loaded on its own
  (``_scoreq_module``), without its package ``__init__``.
- that module imports torchaudio at the top, used only by ``load_processing`` (replaced); pip
  would pull a torchaudio built for another torch, so that one import runs under
  ``judges.packages.torchaudio_placeholder`` (as in ``judges.distillmos``).

Not supported: the fairseq PyTorch path (``use_onnx=False``, ``.pt`` checkpoints): fairseq
0.12.2 does not install beside torch 2.13 / Python 3.11; the ONNX files are the same models.
The ONNX Runtime session uses its default thread count (the library creates it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from judges.base import MOSJudge
from judges.packages import package_dir, package_version, torchaudio_placeholder

log = logging.getLogger(__name__)

SCOREQ_SAMPLE_RATE = 16_000
INSTALL = "pip install --no-deps scoreq==1.0.1"
# store column -> (Scoreq data_domain, the ONNX file scoreq names for it in no-reference mode)
DOMAINS = {
    "mos_scoreq_synthetic": ("synthetic", "adapt_nr_synthetic.onnx"),
    "mos_scoreq_natural": ("natural", "adapt_nr_telephone.onnx"),
}
MODULE_NAME = "scoreq.scoreq"


def default_models_dir() -> Path:
    """Where scoreq itself caches its ONNX downloads."""
    return Path.home() / ".cache" / "scoreq" / "onnx-models"


def scoreq_dir() -> Path | None:
    return package_dir("scoreq")


def missing_reason(models_dir: str | Path | None) -> str | None:
    """Why SCOREQ cannot run here, or None when it can (package and both ONNX files present)."""
    root = scoreq_dir()
    if root is None or not (root / "scoreq.py").is_file():
        return f"scoreq: package scoreq not installed ({INSTALL})"
    folder = Path(models_dir) if models_dir else default_models_dir()
    absent = [name for _, name in DOMAINS.values() if not (folder / name).is_file()]
    if absent:
        return (
            f"scoreq: weights {', '.join(absent)} missing from {folder} (the Zenodo ONNX files, "
            "zenodo.org/records/15739280; set PIPELINE_SCOREQ_MODELS_DIR)"
        )
    return None


def _scoreq_module() -> types.ModuleType:
    """``scoreq/scoreq.py`` loaded without ``scoreq/__init__.py`` (which downloads at import)."""
    loaded = sys.modules.get(MODULE_NAME)
    if loaded is not None:
        return loaded
    root = scoreq_dir()
    if root is None:
        raise RuntimeError(f"scoreq: package scoreq not installed ({INSTALL})")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, root / "scoreq.py")
    module = importlib.util.module_from_spec(spec)
    with torchaudio_placeholder("scoreq"):
        spec.loader.exec_module(module)
    sys.modules[MODULE_NAME] = module
    return module


class SCOREQJudge(MOSJudge):
    sample_rate = SCOREQ_SAMPLE_RATE

    def __init__(
        self,
        *,
        models_dir: str | Path | None = None,
        name: str = "scoreq",
        device: str = "auto",
        threads: int = 0,
        batch_size: int = 8,
    ) -> None:
        """``models_dir``: folder with the two ONNX files (default: scoreq's own cache);
        ``device``: recorded only (scoreq picks CUDA when torch sees a GPU, else CPU);
        ``threads``: unused (scoreq builds the ONNX session with its defaults);
        ``batch_size``: items a scheduler should hand over (clips run one at a time, as in
        scoreq, so a score never depends on padding to a batch)."""
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.models_dir = str(models_dir) if models_dir else None

    @property
    def folder(self) -> Path:
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    @property
    def model_name(self) -> str:
        files = ", ".join(name for _, name in DOMAINS.values())
        return f"SCOREQ no-reference ONNX ({files} in {self.folder})"

    @property
    def version(self) -> str:
        return f"{package_version('scoreq')}, {package_version('onnxruntime')}"

    def unavailable_reason(self) -> str | None:
        return missing_reason(self.models_dir)

    def _load(self) -> tuple[Any, str]:
        """column -> a loaded ``scoreq.Scoreq``, one per domain."""
        module = _scoreq_module()
        folder = self.folder
        models = {}
        for column, (domain, filename) in DOMAINS.items():
            scorer = object.__new__(module.Scoreq)  # its __init__ would download; the same fields, then its loader
            scorer.data_domain, scorer.mode, scorer.use_onnx = domain, "nr", True
            scorer.model, scorer.session, scorer.device = None, None, "cpu"
            asked: list[str] = []
            scorer._download_model = _local_file(folder, asked)
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the provider
                scorer._init_onnx()
            if asked != [filename]:  # pragma: no cover - the library's file naming changed
                raise RuntimeError(f"scoreq: expected it to load {filename}, it asked for {asked}")
            models[column] = scorer
        provider = next(iter(models.values())).device
        log.info("loaded SCOREQ (synthetic, natural) from %s on %s", folder, provider)
        return models, "cuda" if "CUDA" in str(provider) else "cpu"

    def score_audio(self, audio: np.ndarray) -> dict[str, float]:
        values: dict[str, float] = {}
        for column, scorer in self._model.items():
            # The library's prediction; its reader (torchaudio) replaced by the decoded audio.
            scorer.load_processing = _decoded(audio)
            score = float(scorer._predict_onnx("<decoded audio>"))
            if not math.isfinite(score):
                raise ValueError("SCOREQ returned a non-finite score")
            values[column] = score
        return values


def _local_file(folder: Path, asked: list[str]):
    """Stands in for ``Scoreq._download_model``: the file from ``folder``, never a download."""

    def download_model(filename: str, url: str, cache_dir_name: str) -> str:
        asked.append(filename)
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"scoreq: {path} not found (offline: {url} is not fetched)")
        return str(path)

    return download_model


def _decoded(audio: np.ndarray):
    """Stands in for ``Scoreq.load_processing`` (torchaudio): the same contract, a (1, samples)
    float tensor, mono, 16 kHz, from audio already decoded by ``judges.audio``."""
    import torch

    def load_processing(filepath: str, target_sr: int = SCOREQ_SAMPLE_RATE):
        if target_sr != SCOREQ_SAMPLE_RATE:  # pragma: no cover - scoreq always asks for 16 kHz
            raise ValueError(f"scoreq asked for {target_sr} Hz")
        return torch.from_numpy(audio)[None, :]

    return load_processing
