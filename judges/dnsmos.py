"""DNSMOS (Microsoft, P.835 SIG/BAK/OVRL + P.808) as a quality judge, from the ONNX files that
PyPI ``speechmos`` 0.0.1.1 ships (``dnsmos_models/sig_bak_ovr.onnx`` and ``model_v8.onnx``).

Example::

    judge = DNSMOSJudge(); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].values
    # {"mos_dnsmos_sig": 3.5, "mos_dnsmos_bak": 4.0, "mos_dnsmos_ovrl": 3.2, "mos_dnsmos_p808": 3.6}

Audio is scored at 16 kHz mono. DNSMOS looks at 9.01 s windows hopping by 1 s and averages
them; a clip shorter than 9.01 s is tiled (repeated) up to that length, as speechmos does.
The sessions are built here (not by ``speechmos.dnsmos.run``) so that the thread count and the
execution provider are ours; the scoring itself is speechmos's own ``DNSMOS.__call__``
(mel features, the polynomial calibration of the raw outputs), so numbers match speechmos.
Measured on a 2-core CPU: ~100 ms per audio second on 17 s Kokoro clips, ~130 ms on
1.6-8 s clips (the tiling makes short clips cost at least one 9 s window).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from judges.audio import AudioError
from judges.base import MOSJudge
from judges.packages import package_dir, package_version

log = logging.getLogger(__name__)

DNSMOS_SAMPLE_RATE = 16_000
PRIMARY_MODEL = "dnsmos_models/sig_bak_ovr.onnx"
PERSONALIZED_MODEL = "pdnsmos_models/sig_bak_ovr.onnx"
P808_MODEL = "dnsmos_models/model_v8.onnx"
VALUE_KEYS = ("mos_dnsmos_sig", "mos_dnsmos_bak", "mos_dnsmos_ovrl", "mos_dnsmos_p808")


def speechmos_dir() -> Path | None:
    """Where ``speechmos`` is installed (a namespace package: no ``__init__``), without importing it."""
    return package_dir("speechmos")


def missing_reason(personalized: bool = False) -> str | None:
    """Why DNSMOS cannot run here, or None when it can (package and both ONNX files present)."""
    root = speechmos_dir()
    if root is None:
        return "dnsmos: package speechmos not installed (pip install speechmos==0.0.1.1)"
    if importlib.util.find_spec("librosa") is None:
        return "dnsmos: speechmos needs librosa, which is not installed"
    for rel in (PERSONALIZED_MODEL if personalized else PRIMARY_MODEL, P808_MODEL):
        if not (root / rel).is_file():
            return f"dnsmos: weights {rel} missing from {root}"
    return None


class DNSMOSJudge(MOSJudge):
    sample_rate = DNSMOS_SAMPLE_RATE

    def __init__(
        self,
        *,
        name: str = "dnsmos",
        device: str = "auto",
        threads: int = 0,
        batch_size: int = 8,
        personalized: bool = False,
    ) -> None:
        """``device``: auto | cpu | cuda (cuda needs onnxruntime-gpu); ``threads``: ONNX Runtime
        intra-op threads (0 = its default); ``personalized``: the pDNSMOS variant (penalizes
        interfering talkers); ``batch_size``: items a scheduler should hand over at a time
        (clips are scored one by one, windows of a clip in sequence)."""
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.personalized = personalized

    @property
    def model_name(self) -> str:
        model = "pDNSMOS sig_bak_ovr.onnx" if self.personalized else "DNSMOS sig_bak_ovr.onnx"
        return f"{model} + P.808 model_v8.onnx"

    @property
    def version(self) -> str:
        return f"{package_version('speechmos')}, onnxruntime {_ort_version()}"

    def unavailable_reason(self) -> str | None:
        return missing_reason(self.personalized)

    def _load(self) -> tuple[Any, str]:
        import onnxruntime as ort
        from speechmos.dnsmos import DNSMOS

        providers = ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        if self.device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        elif self.device == "cuda":
            raise RuntimeError("dnsmos: device cuda asked for but onnxruntime has no CUDAExecutionProvider")
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        root = speechmos_dir()
        primary = str(root / (PERSONALIZED_MODEL if self.personalized else PRIMARY_MODEL))
        # DNSMOS.__init__ would build default sessions; build ours (threads, provider) instead.
        dnsmos = DNSMOS.__new__(DNSMOS)
        dnsmos.primary_model_path = primary
        dnsmos.onnx_sess = ort.InferenceSession(primary, options, providers=providers)
        dnsmos.p808_onnx_sess = ort.InferenceSession(str(root / P808_MODEL), options, providers=providers)
        used = "cuda" if dnsmos.onnx_sess.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        log.info("loaded DNSMOS (speechmos) on %s", used)
        return dnsmos, used

    def score_audio(self, audio: np.ndarray) -> dict[str, float]:
        """Scores for 16 kHz mono float audio (values outside [-1, 1] are clipped)."""
        self._check_loaded()
        if audio.size == 0:
            raise AudioError("empty audio (0 samples)")
        audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        out = self._model(audio, DNSMOS_SAMPLE_RATE, self.personalized)
        values = {
            "mos_dnsmos_sig": float(out["sig_mos"]),
            "mos_dnsmos_bak": float(out["bak_mos"]),
            "mos_dnsmos_ovrl": float(out["ovrl_mos"]),
            "mos_dnsmos_p808": float(out["p808_mos"]),
        }
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"DNSMOS returned non-finite {', '.join(bad)}")
        return values


def _ort_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "?"
