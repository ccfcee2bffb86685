"""Kokoro-82M on onnxruntime: the embedded default (int8 ONNX, CPU; CUDA provider when present).

The exported graph takes one sequence at a time (``tokens [1, seq]``), so CPU throughput
comes from running several single-threaded sessions in worker processes (see
``pipeline/runner.py`` and BENCHMARKS.md). The int8 graph is deterministic: its noise
source was frozen at export, so ``seed`` has no effect and reruns reproduce audio exactly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipeline.files import sha256_file
from pipeline.tts.backend import BackendInfo, KokoroBackend, phonemes_to_ids, style_for
from pipeline.tts.g2p import KOKORO_MAX_PHONEMES

log = logging.getLogger(__name__)

# The per-token predicted durations (frames) inside the graph (FACTS.md "Durations"): exposed as
# a second output when the session is built, at no extra cost; the audio is unchanged.
DURATIONS_OUTPUT = "/encoder/Clip_output_0"


def model_with_durations(model_path: Path) -> bytes:
    """The ONNX model's bytes with ``DURATIONS_OUTPUT`` appended to its outputs."""
    import onnx

    model = onnx.load(str(model_path))
    if DURATIONS_OUTPUT not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.helper.make_tensor_value_info(DURATIONS_OUTPUT, onnx.TensorProto.FLOAT, None))
    return model.SerializeToString()


def onnx_model_version(model_path: Path) -> str:
    """Identify the model by content (part of every chunk id: another model means other audio)."""
    return f"kokoro-onnx+{sha256_file(Path(model_path))[:12]}"


class KokoroOnnxBackend(KokoroBackend):
    def __init__(self, model_path: Path, device: str = "auto", threads: int = 1) -> None:
        self.model_path = Path(model_path)
        self.device = device
        self.threads = threads
        self._session = None
        self._providers: list[str] = []
        self._version = ""

    def setup(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort

        if not self.model_path.exists():
            raise FileNotFoundError(f"Kokoro ONNX model not found at {self.model_path}; run `pipeline assets`")
        available = ort.get_available_providers()
        wants_cuda = self.device == "cuda" or self.device.startswith("cuda:")
        if wants_cuda and "CUDAExecutionProvider" not in available:
            raise RuntimeError(
                f"KOKORO_DEVICE={self.device} but onnxruntime has no CUDAExecutionProvider "
                "(install the `gpu` extra: onnxruntime-gpu)"
            )
        use_cuda = (self.device == "auto" or wants_cuda) and "CUDAExecutionProvider" in available
        # cuda:N runs on GPU N (not silently on the first one, nor on the CPU)
        device_id = int(self.device.split(":")[1]) if self.device.startswith("cuda:") else 0
        providers: list = (
            [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
            if use_cuda
            else ["CPUExecutionProvider"]
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if self.threads > 1:  # the threads may share cores with other workers': spinning would burn them
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model_with_durations(self.model_path), options, providers=providers)
        self._providers = self._session.get_providers()
        self._version = onnx_model_version(self.model_path)
        log.info("loaded %s with %s, %d thread(s)", self.model_path.name, self._providers[0], self.threads)

    @property
    def info(self) -> BackendInfo:
        on_gpu = "CUDAExecutionProvider" in self._providers
        device = (self.device if self.device.startswith("cuda:") else "cuda") if on_gpu else "cpu"
        return BackendInfo("kokoro-onnx", str(self.model_path.name), device, self._version or "unloaded")

    def synthesize(self, phonemes: str, style_pack: np.ndarray, speed: float, seed: int | None) -> np.ndarray:
        return self.synthesize_with_durations(phonemes, style_pack, speed, seed)[0]

    def synthesize_with_durations(
        self, phonemes: str, style_pack: np.ndarray, speed: float, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if self._session is None:
            raise RuntimeError("KokoroOnnxBackend.setup() must be called first")
        if len(phonemes) > KOKORO_MAX_PHONEMES:
            raise ValueError(f"{len(phonemes)} phonemes > Kokoro's limit of {KOKORO_MAX_PHONEMES}")
        ids = phonemes_to_ids(phonemes)
        if len(ids) <= 2:
            raise ValueError(f"no phonemes in Kokoro's vocabulary in {phonemes[:40]!r}")
        if not (speed > 0 and np.isfinite(speed)):
            raise ValueError(f"speed must be positive and finite, got {speed}")
        feeds = {
            "tokens": np.asarray([ids], dtype=np.int64),
            "style": style_for(style_pack, phonemes),
            "speed": np.asarray([speed], dtype=np.float32),
        }
        outputs = self._session.run(None, feeds)
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        durations = np.asarray(outputs[1]).reshape(-1).round().astype(np.int64) if len(outputs) > 1 else None
        return audio, durations

    def teardown(self) -> None:
        self._session = None
