"""The Kokoro backend interface: phonemes + style vector in, 24 kHz mono float32 audio out.

Backends know nothing about text, voices or files: the G2P front end (``g2p.py``) makes the
phonemes, the voice store (``voices.py``) makes the style pack, and ``engine.py`` ties them
together.  Models load in ``setup()``, never in ``__init__``, so a backend pickles cleanly
and can be built on one process and loaded on a worker.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

SAMPLE_RATE = 24_000
STYLE_DIM = 256
SAMPLES_PER_FRAME = 600  # one predicted duration frame = 25 ms at 24 kHz


@lru_cache(maxsize=1)
def kokoro_config() -> dict:
    """Kokoro-82M v1.0 ``config.json`` (vocab + model hyper-parameters), shipped with the package."""
    return json.loads((resources.files("pipeline.tts") / "kokoro_config.json").read_text())


def phonemes_to_ids(phonemes: str) -> list[int]:
    """Token ids with the two 0 boundary tokens; characters outside Kokoro's vocab are skipped
    (exactly as ``KModel.forward`` does)."""
    vocab = kokoro_config()["vocab"]
    return [0, *(vocab[c] for c in phonemes if c in vocab), 0]


def style_for(pack: np.ndarray, phonemes: str) -> np.ndarray:
    """Kokoro picks the style row by phoneme-string length (``pack[len(ps) - 1]``)."""
    row = min(max(len(phonemes) - 1, 0), pack.shape[0] - 1)
    return np.asarray(pack[row], dtype=np.float32).reshape(1, STYLE_DIM)


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """One utterance for a batched call: phonemes (<= 510), the voice's style pack, speed, seed."""

    phonemes: str
    style_pack: np.ndarray = field(repr=False, compare=False)
    speed: float = 1.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class BackendInfo:
    name: str  # "kokoro-onnx" | "kokoro-torch"
    model: str  # file or hub id the weights came from
    device: str
    version: str  # goes into chunk ids: changing the model changes the audio


class KokoroBackend(ABC):
    """One Kokoro model. ``synthesize`` takes at most 510 phonemes."""

    @abstractmethod
    def setup(self) -> None: ...

    @abstractmethod
    def synthesize(self, phonemes: str, style_pack: np.ndarray, speed: float, seed: int | None) -> np.ndarray:
        """Return float32 mono audio at 24 kHz for one phoneme string."""

    def synthesize_with_durations(
        self, phonemes: str, style_pack: np.ndarray, speed: float, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(audio, frames per token incl. the two boundary tokens, or None)``; one frame is
        ``SAMPLES_PER_FRAME`` samples. Backends that cannot expose durations return None."""
        return self.synthesize(phonemes, style_pack, speed, seed), None

    def synthesize_batch(self, requests: Sequence[SynthesisRequest]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """``(audio, durations or None)`` per request.  Backends that cannot batch (the int8 ONNX
        graph takes one sequence) run the requests one at a time."""
        return [(self.synthesize(r.phonemes, r.style_pack, r.speed, r.seed), None) for r in requests]

    @property
    def supports_batching(self) -> bool:
        """True when ``synthesize_batch`` runs several requests in one forward pass."""
        return type(self).synthesize_batch is not KokoroBackend.synthesize_batch

    @property
    @abstractmethod
    def info(self) -> BackendInfo: ...

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Free the model (optional)."""
