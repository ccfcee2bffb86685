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
  would pull a torchaudio built for another torch, so while that one import runs a placeholder
  stands in for torchaudio when it is not installed (as in ``judges.distillmos``).

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
import time
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from judges.audio import AudioError, load_audio
from judges.base import AudioItem, JudgeInfo, MOSJudge, Scores, package_version

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
    spec = importlib.util.find_spec("scoreq")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


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


class _TorchaudioPlaceholder(types.ModuleType):
    def __getattr__(self, attr: str):
        raise ImportError(f"torchaudio is not installed (torchaudio.{attr} was asked for by scoreq)")


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
    placeholder = None
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        placeholder = _TorchaudioPlaceholder("torchaudio")
        sys.modules["torchaudio"] = placeholder
    try:
        spec.loader.exec_module(module)
    finally:
        if placeholder is not None and sys.modules.get("torchaudio") is placeholder:
            del sys.modules["torchaudio"]
    sys.modules[MODULE_NAME] = module
    return module


class SCOREQJudge(MOSJudge):
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
        self.name = name
        self.models_dir = str(models_dir) if models_dir else None
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        self._models: dict[str, object] = {}  # column -> loaded scoreq.Scoreq
        self._device_used = "unloaded"

    @property
    def folder(self) -> Path:
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    @property
    def info(self) -> JudgeInfo:
        lib, ort = package_version("scoreq"), package_version("onnxruntime")
        files = ", ".join(name for _, name in DOMAINS.values())
        return JudgeInfo(
            name=self.name,
            kind="mos",
            model=f"SCOREQ no-reference ONNX ({files} in {self.folder})",
            version=f"{lib}, {ort}",
            sample_rate=SCOREQ_SAMPLE_RATE,
            device=self._device_used,
            batch_size=self.batch_size,
        )

    def setup(self) -> None:
        if self._models:
            return
        reason = missing_reason(self.models_dir)
        if reason is not None:
            raise RuntimeError(reason)
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
        self._device_used = "cuda" if "CUDA" in str(provider) else "cpu"
        self._models = models
        log.info("loaded SCOREQ (synthetic, natural) from %s on %s", folder, provider)

    def teardown(self) -> None:
        self._models = {}
        self._device_used = "unloaded"

    def judge_batch(self, items: Sequence[AudioItem]) -> list[Scores]:
        if not self._models:
            raise RuntimeError("SCOREQJudge.setup() must be called first")
        return [self._score(item) for item in items]

    def _score(self, item: AudioItem) -> Scores:
        started = time.perf_counter()
        try:
            audio = load_audio(item.audio_path, SCOREQ_SAMPLE_RATE)  # a bad file fails here, with our message
        except AudioError as exc:
            return self.error_result(item, str(exc))
        values: dict[str, float] = {}
        try:
            for column, scorer in self._models.items():
                # The library's prediction; its reader (torchaudio) replaced by the audio decoded above.
                scorer.load_processing = _decoded(audio)
                score = float(scorer._predict_onnx(item.audio_path))
                if not math.isfinite(score):
                    raise ValueError("SCOREQ returned a non-finite score")
                values[column] = score
        except Exception as exc:  # one bad clip must not end the run
            log.exception("scoreq failed on %s", item.audio_path)
            return self.error_result(item, f"{type(exc).__name__}: {exc}")
        return Scores(item.key, self.name, values, (time.perf_counter() - started) * 1000)


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
