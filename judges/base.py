"""The judge interface shared by speech recognizers and quality (MOS) judges.

A judge declares what a scheduler needs to know (``JudgeInfo``: sample rate, device, batch
size, version), loads its model once in ``setup()`` and scores a batch with ``judge_batch``,
returning one result per item in the same order. A file that fails yields a result with
``error`` set; it never crashes the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from verdicts.records import Word


@dataclass(frozen=True, slots=True)
class JudgeInfo:
    name: str  # engine name as configured: "whisper", "parakeet", "qwen", "dnsmos", ...
    kind: Literal["asr", "mos"]
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


class ASRJudge(ABC):
    """A speech recognizer. Pickles before ``setup()``; loads nothing in ``__init__``."""

    @property
    @abstractmethod
    def info(self) -> JudgeInfo: ...

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load the model (once, on the worker)."""

    @abstractmethod
    def judge_batch(self, items: Sequence[AudioItem]) -> list[Transcript]: ...

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""

    def error_result(self, item: AudioItem, error: str) -> Transcript:
        return Transcript(item.key, self.info.name, self.info.model, "", (), 0.0, error)


class MOSJudge(ABC):
    """An audio-quality (MOS) judge. Pickles before ``setup()``; loads nothing in ``__init__``.

    ``judge_batch`` returns one ``Scores`` per item, in order; its ``values`` use the store's
    column names (``mos_dnsmos_ovrl``, ``mos_distillmos``, ...).
    """

    @property
    @abstractmethod
    def info(self) -> JudgeInfo: ...

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load the model (once, on the worker)."""

    @abstractmethod
    def judge_batch(self, items: Sequence[AudioItem]) -> list[Scores]: ...

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""

    def error_result(self, item: AudioItem, error: str) -> Scores:
        return Scores(item.key, self.info.name, {}, 0.0, error)


def package_version(distribution: str) -> str:
    """``"<distribution> <version>"``, or ``"<distribution> (not installed)"``, for judge versions."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return f"{distribution} (not installed)"


def score_clip(
    judge: MOSJudge, name: str, item: AudioItem, sample_rate: int, value_key: str, score_array: Callable[[Any], float]
) -> Scores:
    """Load ``item`` as mono float audio at ``sample_rate`` and score it with ``score_array`` into
    one value; an unreadable file or a failing model is a per-item error, never a crash."""
    import logging
    import time

    from judges.audio import AudioError, load_audio

    started = time.perf_counter()
    try:
        audio = load_audio(item.audio_path, sample_rate)
    except AudioError as exc:
        return judge.error_result(item, str(exc))
    try:
        value = score_array(audio)
    except Exception as exc:  # one bad clip must not end the run
        logging.getLogger(type(judge).__module__).exception("%s failed on %s", name, item.audio_path)
        return judge.error_result(item, f"{type(exc).__name__}: {exc}")
    return Scores(item.key, name, {value_key: value}, (time.perf_counter() - started) * 1000)
