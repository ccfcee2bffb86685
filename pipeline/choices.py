"""Every closed set of choices, defined once: settings validate against these enums, the CLI shows
them as its choices, and the code compares against their members (each is a ``StrEnum``, so a
member equals its string value and serializes as it)."""

from __future__ import annotations

from enum import StrEnum


class EngineMode(StrEnum):
    """Which recognizers validate runs: one, the other, both on every clip, or the cascade
    (primary on all, secondary where the primary's WER or confidence crosses the thresholds)."""

    primary = "primary"
    secondary = "secondary"
    both = "both"
    cascade = "cascade"


class RunMode(StrEnum):
    """batch: stage by stage over all clips (one model in memory); stream: clip by clip."""

    batch = "batch"
    stream = "stream"


class MosMode(StrEnum):
    all = "all"
    sample = "sample"
    flagged_only = "flagged_only"
    passed_only = "passed_only"
    none = "none"


class Only(StrEnum):
    """Which stored clips a scan takes (``--only``): every one, those never validated, those the
    stored verdicts do not keep (``flagged``) or keep (``passed``), or (``escalated``, only with
    ``--engines secondary``: the second stage of a staged scan) those the cascade escalates,
    decided from the stored primary words and the current thresholds."""

    all = "all"
    unvalidated = "unvalidated"
    flagged = "flagged"
    passed = "passed"
    escalated = "escalated"


class RunnerKind(StrEnum):
    local = "local"
    ray = "ray"


class TTSBackendName(StrEnum):
    onnx = "onnx"
    torch = "torch"


class Headings(StrEnum):
    own = "own"
    drop = "drop"


class ASREngine(StrEnum):
    """ASR engine names for settings and flags (``auto`` picks production or embedded)."""

    auto = "auto"
    parakeet = "parakeet"
    qwen = "qwen"
    whisper = "whisper"
    whisper_tiny = "whisper-tiny"


# Engines that can be built (``auto`` resolves to one of these).
ASR_ENGINE_NAMES: tuple[str, ...] = tuple(e.value for e in ASREngine if e is not ASREngine.auto)
# Whisper engines are small and scale poorly over threads (see pipeline/jobs/validate.py).
WHISPER_ENGINES: tuple[str, ...] = (ASREngine.whisper.value, ASREngine.whisper_tiny.value)

# Kokoro's speaking-rate bounds, shared by batch settings and the service's request bodies.
SPEED_MIN = 0.25
SPEED_MAX = 4.0
