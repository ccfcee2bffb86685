"""Speaker similarity: Resemblyzer's speaker encoder (PyPI ``resemblyzer`` 0.1.4, its 17 MB
``pretrained.pt`` ships inside the wheel, so it runs offline) turns a clip into a 256-dim unit
embedding; the cosine to the embedding of a reference clip of the same voice says whether the
clip still sounds like that voice.

Installed with ``--no-deps`` (scripts/setup.sh): the wheel declares ``typing`` (a Python 2
backport pip cannot install on 3.10+) and ``webrtcvad`` (an sdist that needs a C compiler);
its real dependencies are in pyproject (``webrtcvad-wheels`` provides the ``webrtcvad`` module).

Example::

    judge = ResemblyzerJudge(); judge.setup()
    a, b = judge.judge_batch([AudioItem("a", "a.wav"), AudioItem("b", "b.wav")])
    similarity(a.vector, b.vector)   # 0.93
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from judges.audio import AudioError, load_audio
from judges.base import AudioItem, Judge, SpeakerEmbedding
from judges.packages import package_version

SPEAKER_SAMPLE_RATE = 16_000  # resemblyzer's encoder works at 16 kHz


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class ResemblyzerJudge(Judge[SpeakerEmbedding]):
    """Resemblyzer ``VoiceEncoder`` embeddings (``preprocess_wav``: volume normalised, long
    silences trimmed with webrtcvad) of whole clips."""

    kind = "speaker"
    sample_rate = SPEAKER_SAMPLE_RATE

    def __init__(self, *, device: str = "auto", threads: int = 0, batch_size: int = 8) -> None:
        super().__init__(name="resemblyzer", device=device, threads=threads, batch_size=batch_size)

    @property
    def model_name(self) -> str:
        return "resemblyzer/pretrained.pt"

    @property
    def version(self) -> str:
        return f"resemblyzer {package_version('Resemblyzer')}"

    def unavailable_reason(self) -> str | None:
        for module, install in (("resemblyzer", "resemblyzer==0.1.4 --no-deps"), ("webrtcvad", "webrtcvad-wheels")):
            if importlib.util.find_spec(module) is None:
                return f"speaker similarity needs {module} (pip install {install}; scripts/setup.sh does)"
        return None

    def _load(self) -> tuple[Any, str]:
        from resemblyzer import VoiceEncoder

        device = self._torch_device()
        return VoiceEncoder(device=device, verbose=False), device

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """The embedding of mono float audio at 16 kHz."""
        from resemblyzer import preprocess_wav

        self._check_loaded()
        wav = preprocess_wav(np.asarray(audio, dtype=np.float32), source_sr=SPEAKER_SAMPLE_RATE)
        if wav.size < SPEAKER_SAMPLE_RATE // 4:  # VAD left (almost) nothing: embed what there is
            wav = np.asarray(audio, dtype=np.float32)
        return np.asarray(self._model.embed_utterance(wav), dtype=np.float32)

    def error_result(self, item: AudioItem, error: str) -> SpeakerEmbedding:
        return SpeakerEmbedding(item.key, self.name, None, 0.0, error)

    def _judge(self, items: Sequence[AudioItem]) -> list[SpeakerEmbedding]:
        out = []
        for item in items:
            started = time.perf_counter()
            try:
                vector = self.embed(load_audio(item.audio_path, SPEAKER_SAMPLE_RATE))
            except AudioError as exc:
                out.append(self.error_result(item, str(exc)))
                continue
            except Exception as exc:  # one bad clip must not end the run
                out.append(self.error_result(item, f"{type(exc).__name__}: {exc}"))
                continue
            out.append(SpeakerEmbedding(item.key, self.name, vector, (time.perf_counter() - started) * 1000))
        return out
