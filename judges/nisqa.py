"""NISQA (Mittag et al., 2021: CNN + self-attention + attention pooling over mel-spec
segments) as a quality judge, through PyPI ``nisqa`` 2.0.post2's own checkpoint loader.

LICENSE: the NISQA model weights (``nisqa.tar``, ``nisqa_mos_only.tar``, ``nisqa_tts.tar`` in
https://github.com/gabrielmittag/NISQA) are CC BY-NC-SA 4.0: non-commercial use only. The
code is MIT. Nothing here downloads them: ``PIPELINE_NISQA_CHECKPOINT`` names a local copy.

Example::

    judge = NISQAJudge(checkpoint="weights/nisqa.tar"); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].values
    # {"mos_nisqa": 3.9, "mos_nisqa_noi": 4.1, "mos_nisqa_dis": 4.3, "mos_nisqa_col": 3.8, "mos_nisqa_loud": 4.0}

Loading is the library's: ``nisqa.NISQA_model.nisqaModel({"mode": "predict_file",
"pretrained_model": path, ...})`` reads the checkpoint (a ``torch.save`` dict with ``args``, the
training arguments that define the architecture and the mel-spec, and ``model_state_dict``),
builds ``NISQA_DIM`` (overall MOS + noisiness, discontinuity, coloration, loudness) or ``NISQA``
(MOS only, e.g. ``nisqa_tts.tar``, TTS naturalness) and loads the weights strictly. The
published checkpoints also pickle training results (pandas) and the optimizer state, which
torch >= 2.6's default ``weights_only=True`` refuses; only when that happens the same load is
repeated with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set for that one call (full unpickling:
the checkpoint is a local file the operator configured, trusted like the code).

Scoring follows ``NISQA_lib``: the mel-spec of ``get_librosa_melspec`` (computed here from
audio decoded by ``judges.audio``, so a bad file is one failed item with a clear message, not
a crashed batch; the test checks it equals the library's own), ``SpeechQualityDataset``'s
segmenting (``segment_specs``) and ``predict_dim`` / ``predict_mos``. Clips are scored at
the checkpoint's ``ms_sr``; the published ones have ``ms_sr: null``, meaning each clip at its
own sample rate (window lengths are in seconds), which ``info.sample_rate`` reports as 0.
A clip longer than ``ms_max_segments`` allows (52 s for the published ones) or shorter than one
segment (~0.15 s) is an error for that item.

The package pins torch==2.2.1, numpy==1.26.4 and more; it is installed with ``--no-deps``
(scripts/setup.sh): its imports (librosa, pandas, matplotlib, scipy, PyYAML, tqdm) are all
present and its model code runs unchanged on torch 2.13.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import os
import pickle
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judges.audio import AudioError, load_audio, read_audio
from judges.base import AudioItem, MOSJudge, Scores
from judges.packages import package_version

log = logging.getLogger(__name__)

LICENSE_NOTE = "NISQA weights are CC BY-NC-SA 4.0: non-commercial use only"
DIM_KEYS = ("mos_nisqa", "mos_nisqa_noi", "mos_nisqa_dis", "mos_nisqa_col", "mos_nisqa_loud")
INSTALL = "pip install --no-deps nisqa==2.0.post2"


def missing_reason(checkpoint: str | Path | None) -> str | None:
    """Why NISQA cannot run here with ``checkpoint``, or None when it can."""
    if importlib.util.find_spec("nisqa") is None:
        return f"nisqa: package nisqa not installed ({INSTALL}; {LICENSE_NOTE})"
    if not checkpoint:
        return (
            "nisqa: no checkpoint configured (set PIPELINE_NISQA_CHECKPOINT to a local nisqa.tar from "
            f"github.com/gabrielmittag/NISQA; {LICENSE_NOTE})"
        )
    if not Path(checkpoint).is_file():
        return f"nisqa: checkpoint {checkpoint} not found"
    return None


class NISQAJudge(MOSJudge):
    def __init__(
        self,
        *,
        checkpoint: str | Path | None,
        name: str = "nisqa",
        device: str = "auto",
        threads: int = 0,
        batch_size: int = 8,
    ) -> None:
        """``checkpoint``: a NISQA ``.tar`` (``nisqa.tar`` for the five dimensions);
        ``device``: auto | cpu | cuda; ``threads``: torch intra-op threads set in ``setup``
        (process-wide; 0 = leave torch's setting alone); ``batch_size``: clips per forward pass
        (padding is masked, so a clip's score does not depend on its batch)."""
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.checkpoint = str(checkpoint) if checkpoint else None

    @property
    def _args(self) -> dict:
        """The checkpoint's training arguments (empty before ``setup``)."""
        return self._model.args if self._model is not None else {}

    @property
    def sample_rate(self) -> int:
        return int(self._args.get("ms_sr") or 0)  # 0: each clip at its own rate

    @property
    def model_name(self) -> str:
        return f"{self.checkpoint} ({self._args.get('model', '?')}; {LICENSE_NOTE})"

    @property
    def version(self) -> str:
        return f"{package_version('nisqa')}, {package_version('torch')}"

    @property
    def value_keys(self) -> tuple[str, ...]:
        self._check_loaded()
        return DIM_KEYS if self._args["dim"] else DIM_KEYS[:1]

    def unavailable_reason(self) -> str | None:
        return missing_reason(self.checkpoint)

    def _load(self) -> tuple[Any, str]:
        """The library's ``nisqaModel`` (holding ``.model`` and ``.args``)."""
        import torch
        from nisqa.NISQA_model import nisqaModel

        device = self._torch_device()
        args = {
            "mode": "predict_file",
            "pretrained_model": str(Path(self.checkpoint).resolve()),
            "deg": "",  # predict_file wants one; nothing is read until its dataset is iterated
            "output_dir": None,
            "tr_bs_val": self.batch_size,
            "tr_num_workers": 0,
            "tr_device": "cuda" if device.startswith("cuda") else "cpu",
            "tr_parallel": False,
            "ms_channel": None,
        }
        try:
            model = _quiet(nisqaModel, dict(args))
        except pickle.UnpicklingError:
            # Published checkpoints pickle pandas results and optimizer state (see module doc).
            log.warning("nisqa: %s is not a weights-only checkpoint; loading it with full unpickling", self.checkpoint)
            previous = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    model = _quiet(nisqaModel, dict(args))
            finally:
                if previous is None:
                    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
                else:
                    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = previous
        if model.args.get("double_ended"):
            raise RuntimeError(f"nisqa: {self.checkpoint} is a double-ended NISQA_DE model (needs a reference)")
        model.model.to(device).eval()
        model.dev = torch.device(device)
        log.info("loaded NISQA %s from %s on %s (%s)", model.args["model"], self.checkpoint, device, LICENSE_NOTE)
        return model, device

    def melspec(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """``NISQA_lib.get_librosa_melspec`` on decoded mono audio (same parameters, same steps)."""
        import librosa

        a = self._args
        S = librosa.feature.melspectrogram(
            y=audio,
            sr=sample_rate,
            S=None,
            n_fft=a["ms_n_fft"],
            hop_length=int(sample_rate * a["ms_hop_length"]),
            win_length=int(sample_rate * a["ms_win_length"]),
            window="hann",
            center=True,
            pad_mode="reflect",
            power=1.0,
            n_mels=a["ms_n_mels"],
            fmin=0.0,
            fmax=a["ms_fmax"],
            htk=False,
            norm="slaney",
        )
        return librosa.amplitude_to_db(S, ref=1.0, amin=1e-4, top_db=80.0)

    def _judge(self, items: Sequence[AudioItem]) -> list[Scores]:
        started = time.perf_counter()
        results: list[Scores | None] = [None] * len(items)
        specs: list[np.ndarray] = []
        scored: list[int] = []
        for i, item in enumerate(items):
            try:
                specs.append(self._spec(item.audio_path))
                scored.append(i)
            except (AudioError, ValueError) as exc:
                results[i] = self.error_result(item, str(exc))
        if specs:
            try:
                predictions = self._predict(specs)
            except Exception as exc:  # one bad batch must not end the run
                log.exception("nisqa failed on a batch of %d", len(specs))
                predictions = None
                for i in scored:
                    results[i] = self.error_result(items[i], f"{type(exc).__name__}: {exc}")
            if predictions is not None:
                ms = (time.perf_counter() - started) * 1000 / len(items)
                for i, row in zip(scored, predictions, strict=True):
                    values = {k: float(v) for k, v in zip(self.value_keys, row, strict=False)}
                    if all(math.isfinite(v) for v in values.values()):
                        results[i] = Scores(items[i].key, self.name, values, ms)
                    else:
                        results[i] = self.error_result(items[i], "NISQA returned a non-finite score")
        return [r for r in results if r is not None]

    def _spec(self, path: str) -> np.ndarray:
        a = self._args
        if a.get("ms_sr"):
            rate = int(a["ms_sr"])
            audio = load_audio(path, rate)
        else:
            audio, rate = read_audio(path)
        with warnings.catch_warnings():  # fmax above Nyquist (e.g. 20 kHz on 24 kHz audio): NISQA's design
            warnings.filterwarnings("ignore", message="Empty filters detected")
            spec = self.melspec(np.ascontiguousarray(audio, dtype=np.float32), rate)
        if spec.shape[1] < a["ms_seg_length"]:
            raise AudioError(f"{path}: too short for NISQA ({spec.shape[1]} frames < {a['ms_seg_length']})")
        from nisqa import NISQA_lib

        # The library's own segmenting, as its dataset will do it: a ValueError when too long.
        NISQA_lib.segment_specs(path, spec, a["ms_seg_length"], a["ms_seg_hop_length"], a["ms_max_segments"])
        return spec

    def _predict(self, specs: list[np.ndarray]) -> np.ndarray:
        """The library's dataset (its in-memory mode) and ``predict_dim``/``predict_mos``."""
        import pandas as pd
        from nisqa import NISQA_lib

        a = self._args
        ds = NISQA_lib.SpeechQualityDataset(
            pd.DataFrame({"deg": [f"spec-{i}" for i in range(len(specs))]}),
            filename_column="deg",
            mos_column="predict_only",
            seg_length=a["ms_seg_length"],
            max_length=a["ms_max_segments"],
            seg_hop_length=a["ms_seg_hop_length"],
            dim=a["dim"],
        )
        ds.mem_list, ds.to_memory = specs, True
        predict = NISQA_lib.predict_dim if a["dim"] else NISQA_lib.predict_mos
        y_hat, _ = predict(self._model.model, ds, max(1, self.batch_size), self._model.dev, num_workers=0)
        return np.asarray(y_hat, dtype=np.float64).reshape(len(specs), -1)


def _quiet(fn, *args):
    """Call ``fn`` with its prints (device, architecture, "Loaded pretrained model") sent to the log."""
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = fn(*args)
    if printed.getvalue().strip():
        log.debug("%s", printed.getvalue().strip())
    return result
