"""Fingerprints: what produced each column group of a validated clip, so a rerun can tell stored
results that are still what it would compute (skip them) from stale ones (redo them).

``audio_quality.fingerprints`` holds one entry per group::

    {"primary":   {"engine", "model", "model_hash", "version", "decoding"},   # the transcript
     "secondary": {...},                                                      # (when it ran)
     "verdicts":  {"rules", "thresholds", "engines"},                         # rules + inputs
     "quality":   {"code", "checks", "speaker"},                              # signal + clip checks
     "mos":       {"mode", "seed", "sample_rate", "judges"}}                  # the MOS plan

``rules`` is a hash of the verdict code and the calibration tables: editing a rule changes it,
which is what ``pipeline validate --reverdict`` is for (no ASR needed). Computing a fingerprint
loads no model (the model hash reads a few MiB of the model files, once per process).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from judges.asr_batch import model_fingerprint
from judges.base import ASRJudge
from pipeline.clip_checks import ClipCheckThresholds
from verdicts import Thresholds

REPO = Path(__file__).resolve().parents[1]
# The code and data a clip's verdicts depend on (beyond its transcripts and label).
RULE_FILES = ("verdicts/*.py", "pipeline/stages/verdicts.py", "pipeline/lexicon.py", "data/calibration/*.json")
# ... and its signal metrics and clip checks.
QUALITY_FILES = ("pipeline/signal.py", "pipeline/clip_checks.py", "pipeline/reasons.py", "pipeline/stages/quality.py")


def _digest_files(patterns: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def rules_hash() -> str:
    """A hash of the verdict rules (code and calibration tables) this checkout runs."""
    return _digest_files(RULE_FILES)


@functools.cache
def quality_hash() -> str:
    return _digest_files(QUALITY_FILES)


@functools.cache
def _model_hash(model: str) -> str:
    path = Path(model)
    return model_fingerprint(path) if path.exists() else f"hub:{model}"


def asr_fingerprint(judge: ASRJudge) -> dict[str, Any]:
    """What a transcript of ``judge`` depends on: engine, model id, a hash of the model files
    (a hub id stands for itself), library version and decoding settings."""
    return {
        "engine": judge.name,
        "model": judge.model_name,
        "model_hash": _model_hash(str(getattr(judge, "model", judge.model_name))),
        "version": judge.version,
        "decoding": judge.decoding,
    }


def verdicts_fingerprint(thresholds: Thresholds, engines: str) -> dict[str, Any]:
    """The rules and thresholds the verdicts came from, and the engine mode that chose which
    transcripts they were judged on (the transcripts' own fingerprints sit beside it)."""
    return {"rules": rules_hash(), "thresholds": asdict(thresholds), "engines": str(engines)}


def quality_fingerprint(checks: ClipCheckThresholds, speaker: bool) -> dict[str, Any]:
    return {"code": quality_hash(), "checks": asdict(checks), "speaker": speaker}


def mos_fingerprint(mode: str, sample_rate: float, seed: int, judges: dict[str, str]) -> dict[str, Any]:
    """The MOS plan: which clips are scored (mode, rate, seed) and by which judges (name -> version)."""
    return {"mode": str(mode), "sample_rate": sample_rate, "seed": seed, "judges": judges}
