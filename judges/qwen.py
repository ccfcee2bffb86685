"""Qwen3-ASR (``qwen-asr``, transformers backend) as an ASR judge, batched.

The production secondary recognizer (``Qwen/Qwen3-ASR-1.7B``). Needs the ``asr`` extra
(``qwen-asr``). ``model`` and ``aligner`` are hub ids (downloaded on first use) or local
model directories, which is how an offline machine gets them. Example::

    judge = QwenASRJudge(model="/models/Qwen3-ASR-1.7B", aligner="/models/Qwen3-ForcedAligner-0.6B")
    judge.setup()
    t = judge.judge_batch([AudioItem("k", "clip.wav")])[0]
    t.text, t.words[0]   # 'Hello world.', Word(text='Hello', start=0.24, end=0.56, confidence=None)

Words: with a forced aligner (``Qwen3-ForcedAligner``) each word has start/end seconds; the
aligner's words are the transcript's words with punctuation stripped. Without one, the words
are the transcript split on whitespace, with no times. Confidence is always None: Qwen3-ASR
reports none, so the cascade's confidence threshold reads only the primary engine.

The language is forced (English by default; ``language=None`` lets the model detect it), which
also makes the model answer with the bare transcript.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judges.asr_batch import Decoded, clean_span, judge_in_batches, model_fingerprint
from judges.base import ASRJudge, AudioItem, Transcript
from judges.packages import package_version
from verdicts.records import Word

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen3-ASR-1.7B"
DEFAULT_ALIGNER = "Qwen/Qwen3-ForcedAligner-0.6B"
QWEN_SAMPLE_RATE = 16_000
DTYPES = ("auto", "float32", "bfloat16", "float16")


class QwenASRJudge(ASRJudge):
    """Qwen3-ASR (plus optional forced aligner for word times), loaded once in ``setup()``.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``. ``batch_size``: clips per
    ``generate`` call. ``max_new_tokens``: cap on transcript tokens per clip (a 25 s English
    clip needs about 100). ``dtype``: ``auto`` = bfloat16 on CUDA, float32 on CPU. ``threads``:
    torch intra-op threads, set process-wide in ``setup()`` (0 = leave as is). The object
    pickles before and after ``setup()`` (the loaded model is left out).
    """

    sample_rate = QWEN_SAMPLE_RATE

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        aligner: str | Path | None = None,
        *,
        device: str = "auto",
        batch_size: int = 8,
        max_new_tokens: int = 256,
        name: str = "qwen",
        language: str | None = "English",
        dtype: str = "auto",
        threads: int = 0,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, not {max_new_tokens}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.model = str(model)
        self.aligner = str(aligner) if aligner else None
        self.max_new_tokens = int(max_new_tokens)
        self.language = language
        self.dtype = dtype
        self._language: str | None = None  # canonical name, checked in setup()

    # --- interface ------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def decoding(self) -> dict[str, Any]:
        return {
            "aligner": self.aligner,
            "language": self.language,
            "max_new_tokens": self.max_new_tokens,
            "dtype": self.dtype,
        }

    @functools.cached_property
    def version(self) -> str:  # the fingerprints read the model files: once
        parts = [package_version("qwen-asr"), package_version("transformers"), _describe(self.model)]
        if self.aligner:
            parts.append(f"aligner {_describe(self.aligner)}")
        return "; ".join(parts)

    def _load(self) -> tuple[Any, str]:
        import torch
        from qwen_asr import Qwen3ASRModel
        from qwen_asr.inference.utils import normalize_language_name, validate_language

        device = self._torch_device()
        language = None
        if self.language:
            language = normalize_language_name(self.language)
            validate_language(language)
        dtype_name = self.dtype if self.dtype != "auto" else ("bfloat16" if device.startswith("cuda") else "float32")
        load_kwargs = {"dtype": getattr(torch, dtype_name), "device_map": device}
        _check_source(self.model, "model", DEFAULT_MODEL)
        if self.aligner:
            _check_source(self.aligner, "aligner", DEFAULT_ALIGNER)
        try:
            asr = Qwen3ASRModel.from_pretrained(
                self.model,
                forced_aligner=self.aligner,
                forced_aligner_kwargs=dict(load_kwargs),
                max_inference_batch_size=self.batch_size,
                max_new_tokens=self.max_new_tokens,
                **load_kwargs,
            )
        except OSError as exc:  # transformers' "not found / cannot reach the hub"
            raise RuntimeError(
                f"could not load Qwen3-ASR {self.model!r}"
                + (f" with aligner {self.aligner!r}" if self.aligner else "")
                + f" ({exc}). Offline, download the model directories once elsewhere "
                "(e.g. `hf download Qwen/Qwen3-ASR-1.7B --local-dir /models/Qwen3-ASR-1.7B`) and point "
                "PIPELINE_QWEN_MODEL / PIPELINE_QWEN_ALIGNER at the local directories"
            ) from exc
        asr.model.eval()
        self._language = language
        log.info("loaded Qwen3-ASR %s on %s (%s, aligner %s)", self.model, device, dtype_name, self.aligner)
        return asr, device

    def _judge(self, items: Sequence[AudioItem]) -> list[Transcript]:
        return judge_in_batches(self, items, QWEN_SAMPLE_RATE, self.batch_size, self._decode)

    # --- decoding -------------------------------------------------------------------------

    def _decode(self, audios: list[np.ndarray]) -> list[Decoded]:
        results = self._model.transcribe(
            audio=[(audio, QWEN_SAMPLE_RATE) for audio in audios],  # already 16 kHz mono: no resampling inside
            language=self._language,
            return_time_stamps=self.aligner is not None,
        )
        return [transcription_to_decoded(r) for r in results]


def transcription_to_decoded(result: Any) -> Decoded:
    """A ``qwen_asr`` ``ASRTranscription`` -> text and words (aligned when time stamps are present)."""
    text = str(result.text or "")
    aligned = getattr(result, "time_stamps", None)
    if aligned is not None and len(aligned.items) > 0:
        words = tuple(Word(str(it.text), *clean_span(it.start_time, it.end_time), None) for it in aligned.items)
    else:
        words = tuple(Word(w, None, None, None) for w in text.split())
    return Decoded(text, words)


def _describe(model: str) -> str:
    path = Path(model)
    return f"{path.name} fp:{model_fingerprint(path)}" if path.exists() else model


def _check_source(model: str, role: str, example: str) -> None:
    """A local path must exist; anything else must look like a hub id (``org/name``)."""
    if Path(model).exists():
        return
    if model.count("/") != 1 or model.startswith(("/", ".", "~")):
        raise RuntimeError(
            f"Qwen3-ASR {role} {model!r}: no such directory (give a local dir or a hub id like {example})"
        )
