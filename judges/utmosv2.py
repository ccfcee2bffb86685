"""UTMOSv2 (Baba et al., 2024: wav2vec 2.0 + EfficientNetV2 over multi-resolution mel-specs,
the VoiceMOS 2024 winner; naturalness, the most telling MOS for TTS) as a quality judge,
through PyPI ``hyperion-utmosv2`` 1.3.1 (import name ``utmosv2``).

UNTESTED HERE: the package cannot be imported on this machine. It pins torch<=2.9.1 and needs
torchvision, torchaudio and timm; the PyPI torchvision built for torch 2.13 (0.28.0, a CUDA
build) fails to import beside the CPU torch 2.13 ("operator torchvision::nms does not exist"),
and ``utmosv2`` imports torchvision (its configs) and torchaudio (``_core/model/_common.py``)
at module level. ``build_mos_judges`` therefore skips it with that reason. This adapter is
written against the package's documented API and source (1.3.1) and has never run.

Example (where it installs)::

    judge = UTMOSv2Judge(checkpoint="models/fusion_stage3/fold0_s42_best_model.pth", seed=0); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].values   # {"mos_utmosv2": 3.4}

Loading: ``utmosv2.create_model(pretrained=True, config=..., checkpoint_path=<local .pth>,
device=...)``, the library's own loader (``torch.load`` + ``load_state_dict``); with a local
checkpoint it does not fetch the UTMOSv2 weights. Building the model still calls
``transformers.AutoModel.from_pretrained("facebook/wav2vec2-base")`` and
``timm.create_model("tf_efficientnetv2_s.in21k_ft_in1k", pretrained=True)``: both need the
Hugging Face hub or a filled hub cache (``HF_HUB_OFFLINE=1`` then), even though the checkpoint
overwrites their weights.

Scoring: ``model.predict(data=<16 kHz mono>, sr=16000, num_repetitions=N, ...)`` per clip.
UTMOSv2 takes random crops (``np.random.randint`` start points, a ``np.random.beta`` mix of two
crops per spectrogram) from numpy's global generator; each clip is scored with that generator
seeded with ``seed`` (``PIPELINE_MOS_SEED``, stored as ``mos_seed``) and restored afterwards,
so a clip's score depends only on the clip, the seed and ``num_repetitions``, not on the
order or company it was scored in. The seed and repetitions are also part of ``info.version``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
from pathlib import Path
from typing import Any

from judges.base import MOSJudge
from judges.packages import package_version

log = logging.getLogger(__name__)

UTMOSV2_SAMPLE_RATE = 16_000
VALUE_KEY = "mos_utmosv2"
DEFAULT_CONFIG = "fusion_stage3"
NOT_INSTALLED = (
    "utmosv2: package not installed (hyperion-utmosv2 1.3.1 pins torch<=2.9.1 and needs torchvision, torchaudio "
    "and timm; the PyPI torchvision for torch 2.13 fails to import beside this CPU torch: "
    "operator torchvision::nms does not exist)"
)


def missing_reason(checkpoint: str | Path | None) -> str | None:
    """Why UTMOSv2 cannot run here, or None when it can (importable, checkpoint present)."""
    if importlib.util.find_spec("utmosv2") is None:
        return NOT_INSTALLED
    try:
        import utmosv2  # noqa: F401 - it imports torchvision/torchaudio/timm/transformers
    except Exception as exc:
        return f"utmosv2: package installed but cannot be imported ({type(exc).__name__}: {exc})"
    if not checkpoint:
        return (
            "utmosv2: no checkpoint configured (set PIPELINE_UTMOSV2_CHECKPOINT to a local "
            "fold0_s42_best_model.pth of the configured UTMOSv2 config)"
        )
    if not Path(checkpoint).is_file():
        return f"utmosv2: checkpoint {checkpoint} not found"
    return None


class UTMOSv2Judge(MOSJudge):
    sample_rate = UTMOSV2_SAMPLE_RATE

    def __init__(
        self,
        *,
        checkpoint: str | Path | None,
        config: str = DEFAULT_CONFIG,
        seed: int = 0,
        num_repetitions: int = 1,
        name: str = "utmosv2",
        device: str = "auto",
        threads: int = 0,
        batch_size: int = 8,
    ) -> None:
        """``checkpoint``: the ``.pth`` for ``config`` (a module of ``utmosv2.config``);
        ``seed``: seeds the random crops of every clip; ``num_repetitions``: crops averaged per
        clip (UTMOSv2's test-time augmentation; more is steadier and slower); ``device``: auto |
        cpu | cuda[:N]; ``threads``: torch intra-op threads set in ``setup`` (0 = leave as is);
        ``batch_size``: items a scheduler should hand over (clips run one at a time, seeded)."""
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.checkpoint = str(checkpoint) if checkpoint else None
        self.config = config
        self.seed = int(seed)
        self.num_repetitions = max(1, int(num_repetitions))

    @property
    def model_name(self) -> str:
        return f"UTMOSv2 {self.config} ({self.checkpoint})"

    @property
    def version(self) -> str:
        return f"{package_version('hyperion-utmosv2')}, seed {self.seed}, {self.num_repetitions} repetition(s)"

    def unavailable_reason(self) -> str | None:
        return missing_reason(self.checkpoint)

    def _load(self) -> tuple[Any, str]:
        import utmosv2

        device = self._torch_device()
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # "Loaded checkpoint from ..."
            model = utmosv2.create_model(
                pretrained=True, config=self.config, checkpoint_path=self.checkpoint, device=device
            )
        log.info("%s", printed.getvalue().strip())
        return model.eval().to(device), device

    def score_array(self, audio) -> float:
        """The MOS of 16 kHz mono float audio, with the crops seeded by ``seed``."""
        import numpy as np
        import torch

        self._check_loaded()
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                pred = self._model.predict(
                    data=np.ascontiguousarray(audio, dtype=np.float32),
                    sr=UTMOSV2_SAMPLE_RATE,
                    device=self._device_used,
                    num_workers=0,
                    batch_size=1,
                    num_repetitions=self.num_repetitions,
                    verbose=False,
                )
        finally:
            np.random.set_state(state)
        mos = float(np.asarray(pred).reshape(-1)[0])
        if not math.isfinite(mos):
            raise ValueError("UTMOSv2 returned a non-finite score")
        return mos

    def score_audio(self, audio) -> dict[str, float]:
        return {VALUE_KEY: self.score_array(audio)}
