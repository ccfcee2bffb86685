"""The judge interface shared by speech recognizers and quality (MOS) judges.

A judge declares what a scheduler needs to know (``JudgeInfo``: sample rate, device, batch
size, version), loads its model once in ``setup()`` and scores a batch with ``judge_batch``,
returning one result per item in the same order. A file that fails yields a result with
``error`` set; it never crashes the run.

``Judge[ResultT]`` holds what every judge shares: its settings (name, device, threads, batch
size), the loaded model and the device it landed on, ``info``, the setup guard, teardown and
pickling without the model. A judge implements ``_load`` (load the model, say where it runs),
``_judge`` (score a batch) and its ``model_name``/``version``; ``ASRJudge`` and ``MOSJudge``
add the result type::

    class MyJudge(MOSJudge):
        sample_rate = 16_000
        model_name = "my model"
        version = "mylib 1.0"

        def _load(self): return load_my_model(), "cpu"
        def score_audio(self, audio): return {"mos_mine": float(self.model(audio))}
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np

from judges.audio import AudioError, load_audio
from pipeline.devices import parse_device, resolve_device
from verdicts.records import ForcedRepeat, LanguageListen, Word

UNLOADED = "unloaded"  # JudgeInfo.device before setup() and after teardown()


@dataclass(frozen=True, slots=True)
class JudgeInfo:
    name: str  # engine name as configured: "whisper", "parakeet", "qwen", "dnsmos", ...
    kind: Literal["asr", "mos", "speaker"]
    model: str  # model id or local path
    version: str  # library + model version, stored with the results
    sample_rate: int
    device: str
    batch_size: int


@dataclass(frozen=True, slots=True)
class AudioItem:
    """One clip to judge. ``key`` identifies it in the results (e.g. its file_hash)."""

    key: str
    audio_path: str
    text: str | None = None  # the label, for judges that need it


@dataclass(frozen=True, slots=True)
class Transcript:
    key: str
    engine: str
    model: str
    text: str
    words: tuple[Word, ...] = ()
    ms: float = 0.0  # this item's share of the batch's wall time
    error: str | None = None
    # Per whitespace-separated word of the item's label: the engine's probability of that word
    # when its decoder is forced to read the label (None: the engine cannot score a given text,
    # the clip had no label, or the engine heard the label exactly and nothing needed scoring).
    label_probs: tuple[float | None, ...] | None = None
    # The engine's second listen, in that language, to each run of the label in another language
    # (``verdicts.languages``); () when the label has none or the engine cannot listen in it.
    listens: tuple[LanguageListen, ...] = ()
    # The doubled readings of the label the engine was asked about, each with its log-likelihood
    # ratio against the label (``ForcedRepeat``); None: the engine cannot score a given text, or
    # the clip was not checked.
    repeats: tuple[ForcedRepeat, ...] | None = None

    @property
    def confidences(self) -> list[float]:
        return [w.confidence for w in self.words if w.confidence is not None]


@dataclass(frozen=True, slots=True)
class Scores:
    """A quality judge's scores for one clip (e.g. {"mos_dnsmos_ovrl": 3.2, ...})."""

    key: str
    judge: str
    values: dict[str, float] = field(default_factory=dict)
    ms: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SpeakerEmbedding:
    """A speaker encoder's embedding of one clip (unit length; cosine = dot product)."""

    key: str
    judge: str
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    ms: float = 0.0
    error: str | None = None


ResultT = TypeVar("ResultT", Transcript, Scores, SpeakerEmbedding)


class Judge(ABC, Generic[ResultT]):
    """A model that judges audio clips. Pickles before and after ``setup()`` (the loaded model
    is left out); loads nothing in ``__init__``.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` (checked here, resolved in
    ``_load``); ``threads``: intra-op threads the judge sets in ``setup`` (0 = leave the
    library's default); ``batch_size``: items a scheduler should hand over at a time.
    """

    kind: ClassVar[Literal["asr", "mos", "speaker"]]
    sample_rate: int  # the rate ``judge_batch`` decodes audio at (a class value, or set by ``_load``)

    def __init__(self, *, name: str, device: str = "auto", threads: int = 0, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.name = name
        self.device = parse_device(device)
        self.threads = int(threads)
        self.batch_size = int(batch_size)
        self._model: Any = None
        self._device_used: str | None = None

    # --- what a judge implements ----------------------------------------------------------

    @property
    @abstractmethod
    def model_name(self) -> str:
        """``JudgeInfo.model``: the model id, path or description."""

    @property
    @abstractmethod
    def version(self) -> str:
        """``JudgeInfo.version``: library and model versions."""

    @abstractmethod
    def _load(self) -> tuple[Any, str]:
        """Load the model; return it and the device it runs on ("cpu", "cuda", ...)."""

    def unavailable_reason(self) -> str | None:
        """Why this judge cannot load here (package or weights absent), or None when it can."""
        return None

    @abstractmethod
    def _judge(self, items: Sequence[AudioItem]) -> list[ResultT]:
        """One result per item, in order (the model is loaded)."""

    @abstractmethod
    def error_result(self, item: AudioItem, error: str) -> ResultT:
        """The result of an item that could not be judged."""

    # --- shared ---------------------------------------------------------------------------

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=self.name,
            kind=self.kind,
            model=self.model_name,
            version=self.version,
            sample_rate=self.sample_rate,
            device=self._device_used or UNLOADED,
            batch_size=self.batch_size,
        )

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _check_loaded(self) -> None:
        """The setup guard: a RuntimeError before ``setup()``."""
        if self._model is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must be called first")

    def setup(self) -> None:
        """Load the model (once, on the worker); a second call does nothing. A judge that
        cannot load here raises RuntimeError with ``unavailable_reason()``."""
        if self._model is not None:
            return
        reason = self.unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        self._model, self._device_used = self._load()

    def _torch_device(self) -> str:
        """For torch judges, in ``_load``: ``device`` resolved (``pipeline.devices``), and
        ``threads`` (when > 0) set as torch's intra-op thread count."""
        import torch

        device = resolve_device(self.device)
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        return device

    def judge_batch(self, items: Sequence[AudioItem]) -> list[ResultT]:
        self._check_loaded()
        return self._judge(items)

    def teardown(self) -> None:
        """Free the model (and cached GPU memory)."""
        if self._model is None:
            return
        device = self._device_used
        self._model, self._device_used = None, None
        release_memory(device)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"], state["_device_used"] = None, None
        return state


class ASRJudge(Judge[Transcript]):
    """A speech recognizer: one ``Transcript`` (text, timed words) per clip."""

    kind = "asr"

    @property
    def decoding(self) -> dict[str, Any]:
        """The decoding settings that shape this judge's transcripts (part of a scan's
        fingerprint: a change means the stored transcripts are stale)."""
        return {}

    def error_result(self, item: AudioItem, error: str) -> Transcript:
        return Transcript(item.key, self.name, self.model_name, "", (), 0.0, error)


class MOSJudge(Judge[Scores]):
    """An audio-quality (MOS) judge: one ``Scores`` per clip, whose ``values`` use the store's
    column names (``mos_dnsmos_ovrl``, ``mos_distillmos``, ...).

    By default clips are scored one at a time (a clip's score never depends on what it was
    batched with): ``score_audio`` gets each clip decoded to mono float32 at ``sample_rate``;
    a judge that batches overrides ``_judge`` instead.
    """

    kind = "mos"

    def error_result(self, item: AudioItem, error: str) -> Scores:
        return Scores(item.key, self.name, {}, 0.0, error)

    def score_audio(self, audio: np.ndarray) -> dict[str, float]:
        """The scores of one decoded clip (judges that score clip by clip implement this)."""
        raise NotImplementedError(f"{type(self).__name__} scores batches in _judge")

    def _judge(self, items: Sequence[AudioItem]) -> list[Scores]:
        return [score_clip(self, item, self.score_audio) for item in items]


def score_clip(judge: MOSJudge, item: AudioItem, score: Callable[[np.ndarray], dict[str, float]]) -> Scores:
    """Load ``item`` as mono float audio at the judge's sample rate and score it; an unreadable
    file or a failing model is a per-item error, never a crash."""
    started = time.perf_counter()
    try:
        audio = load_audio(item.audio_path, judge.sample_rate)
    except AudioError as exc:
        return judge.error_result(item, str(exc))
    try:
        values = score(audio)
    except Exception as exc:  # one bad clip must not end the run
        logging.getLogger(type(judge).__module__).exception("%s failed on %s", judge.name, item.audio_path)
        return judge.error_result(item, f"{type(exc).__name__}: {exc}")
    return Scores(item.key, judge.name, values, (time.perf_counter() - started) * 1000)


def release_memory(device: str | None) -> None:
    """After dropping a model: collect it, and return cached CUDA memory to the driver."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if device and device.startswith("cuda") and torch is not None:
        torch.cuda.empty_cache()
