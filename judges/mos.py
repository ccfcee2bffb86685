"""Quality (MOS) judges by name, the composite MOS, and which clips ``--mos-mode`` scores.

Judges: ``dnsmos`` (speechmos ONNX) and ``distillmos`` run everywhere, their weights ship in
their PyPI wheels. The production judges load local weights named in settings and never
download: ``scoreq`` (``scoreq_models_dir``: the two Zenodo ONNX files), ``nisqa``
(``nisqa_checkpoint``: a NISQA ``.tar``; CC BY-NC-SA 4.0 weights, non-commercial only) and
``utmosv2`` (``utmosv2_checkpoint``; the package cannot be imported beside torch 2.13 here, see
``judges.utmosv2``). A judge whose package or weights are absent is skipped with its reason,
never a crash::

    judges, skipped = build_mos_judges(["dnsmos", "distillmos", "utmosv2"], settings)
    skipped   # {"utmosv2": "utmosv2: package not installed (hyperion-utmosv2 1.3.1 pins torch<=2.9.1 ..."}

Composite MOS = the mean of the primary score of each judge that produced one, with the names
of those judges (``composite``). ``select_for_mos`` picks the clips a ``--mos-mode`` scores.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from judges.base import MOSJudge
from pipeline.choices import MosMode
from pipeline.settings import Settings

MOS_JUDGES = ("dnsmos", "distillmos", "utmosv2", "scoreq", "nisqa")
MOS_MODES = tuple(m.value for m in MosMode)
DEFAULT_MOS_SAMPLE_RATE = 0.1

# The one score per judge that enters the composite (store column names).
PRIMARY_SCORE = {
    "dnsmos": "mos_dnsmos_ovrl",
    "distillmos": "mos_distillmos",
    "utmosv2": "mos_utmosv2",
    "scoreq": "mos_scoreq_synthetic",
    "nisqa": "mos_nisqa",
}


def composite(values: Mapping[str, float | None]) -> tuple[float | None, list[str]]:
    """Mean of the available judges' primary scores, and the judges used (``PRIMARY_SCORE``
    order). A missing, None or non-finite score is left out; with none left, ``(None, [])``.

    >>> composite({"mos_dnsmos_ovrl": 3.0, "mos_distillmos": 4.0, "mos_dnsmos_sig": 1.0})
    (3.5, ['dnsmos', 'distillmos'])
    """
    used: list[str] = []
    scores: list[float] = []
    for judge, column in PRIMARY_SCORE.items():
        value = values.get(column)
        if value is None:
            continue
        value = float(value)
        if not math.isfinite(value):
            continue
        used.append(judge)
        scores.append(value)
    if not scores:
        return None, []
    return sum(scores) / len(scores), used


DEFAULT_MOS_BATCH_SIZE = 8  # clips handed to a judge at a time


def unavailable_reason(name: str, settings: Settings | None = None) -> str | None:
    """Why judge ``name`` cannot run on this machine with ``settings`` (default: ``Settings()``),
    or None when it can."""
    settings = settings or Settings()
    if name == "dnsmos":
        from judges.dnsmos import missing_reason

        return missing_reason(settings.dnsmos_personalized)
    if name == "distillmos":
        from judges.distillmos import missing_reason

        return missing_reason()
    if name == "utmosv2":
        from judges.utmosv2 import missing_reason

        return missing_reason(settings.utmosv2_checkpoint)
    if name == "scoreq":
        from judges.scoreq import missing_reason

        return missing_reason(settings.scoreq_models_dir)
    if name == "nisqa":
        from judges.nisqa import missing_reason

        return missing_reason(settings.nisqa_checkpoint)
    raise ValueError(f"unknown MOS judge {name!r}; choose from {', '.join(MOS_JUDGES)}")


def build_mos_judges(names: Iterable[str], settings: Settings | None = None) -> tuple[list[MOSJudge], dict[str, str]]:
    """The runnable judges among ``names`` (not yet loaded: call ``setup()``), in the order
    asked, and ``{name: reason}`` for each one skipped because its package or weights are
    absent. An unknown name is a configuration error (ValueError).

    Settings read (default ``Settings()``): ``mos_device``, ``mos_threads``,
    ``dnsmos_personalized``, ``mos_seed`` (UTMOSv2's crops), ``utmosv2_checkpoint`` /
    ``utmosv2_config`` / ``utmosv2_repetitions``, ``scoreq_models_dir``, ``nisqa_checkpoint``.
    """
    settings = settings or Settings()
    wanted: list[str] = []
    for name in names:
        name = name.strip().lower()
        if name not in MOS_JUDGES:
            raise ValueError(f"unknown MOS judge {name!r}; choose from {', '.join(MOS_JUDGES)}")
        if name not in wanted:
            wanted.append(name)
    common = {"device": settings.mos_device, "threads": settings.mos_threads, "batch_size": DEFAULT_MOS_BATCH_SIZE}
    judges: list[MOSJudge] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        reason = unavailable_reason(name, settings)
        if reason is not None:
            skipped[name] = reason
            continue
        if name == "dnsmos":
            from judges.dnsmos import DNSMOSJudge

            judges.append(DNSMOSJudge(personalized=settings.dnsmos_personalized, **common))
        elif name == "distillmos":
            from judges.distillmos import DistillMOSJudge

            judges.append(DistillMOSJudge(**common))
        elif name == "utmosv2":
            from judges.utmosv2 import UTMOSv2Judge

            judges.append(
                UTMOSv2Judge(
                    checkpoint=settings.utmosv2_checkpoint,
                    config=settings.utmosv2_config,
                    seed=settings.mos_seed,
                    num_repetitions=settings.utmosv2_repetitions,
                    **common,
                )
            )
        elif name == "scoreq":
            from judges.scoreq import SCOREQJudge

            judges.append(SCOREQJudge(models_dir=settings.scoreq_models_dir, **common))
        elif name == "nisqa":
            from judges.nisqa import NISQAJudge

            judges.append(NISQAJudge(checkpoint=settings.nisqa_checkpoint, **common))
    return judges, skipped


class MOSCandidate(NamedTuple):
    """What ``select_for_mos`` needs to know of a clip. A plain tuple
    ``(key, n_tts_failure, n_ambiguous, keep)`` works the same. ``keep`` is None when the clip
    has no verdicts yet (``passed_only`` leaves it out)."""

    key: str
    n_tts_failure: int = 0
    n_ambiguous: int = 0
    keep: bool | None = None


def _sample_rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


def select_for_mos(
    results: Iterable[MOSCandidate | Sequence],
    mode: str,
    sample_rate: float = DEFAULT_MOS_SAMPLE_RATE,
    seed: int = 0,
) -> set[str]:
    """The keys of the clips that ``--mos-mode mode`` scores.

    - ``all``: every clip; ``none``: no clip.
    - ``sample``: a seeded random ``round(sample_rate * n)`` clips (at least 1 when
      ``sample_rate > 0`` and there are clips; all at 1; outside 0..1 is a ValueError). Each key is ranked
      by sha256(seed, key), so the choice depends only on the seed and the set of keys, not on
      their order or on the process (no ``hash()`` randomization).
    - ``flagged_only``: clips with a tts_failure or ambiguous verdict (count > 0).
    - ``passed_only``: clips the verdicts keep (``keep is True``).
    """
    if mode not in MOS_MODES:
        raise ValueError(f"unknown --mos-mode {mode!r}; choose from {', '.join(MOS_MODES)}")
    rows = [r if isinstance(r, MOSCandidate) else MOSCandidate(*r) for r in results]
    if mode == MosMode.none:
        return set()
    if mode == MosMode.all:
        return {r.key for r in rows}
    if mode == MosMode.flagged_only:
        return {r.key for r in rows if (r.n_tts_failure or 0) > 0 or (r.n_ambiguous or 0) > 0}
    if mode == MosMode.passed_only:
        return {r.key for r in rows if r.keep is True}
    # sample
    if not 0.0 <= sample_rate <= 1.0:  # NaN fails too
        raise ValueError(f"--mos-sample-rate must be within 0..1, got {sample_rate}")
    keys = sorted({r.key for r in rows})
    if sample_rate == 0 or not keys:
        return set()
    count = min(len(keys), max(1, round(sample_rate * len(keys))))
    return set(sorted(keys, key=lambda k: _sample_rank(seed, k))[:count])
