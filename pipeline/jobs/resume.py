"""Resume for ``validate``: compare what a run would produce for each clip (its fingerprints,
``pipeline.fingerprints``) with what the database holds, and plan only the missing work.

* A clip whose stored fingerprints match the requested work is up to date: skipped.
* A clip whose only stale group is its verdicts (the rules or thresholds changed; the engine
  mode, clip checks, MOS plan and every transcript the verdicts rest on are what this run asks
  for) is judged again from its stored transcripts and quality columns, like ``--reverdict``:
  no audio, no ASR, no MOS (``rejudge``). Under the cascade, one the new rules would escalate
  goes on to a full validation instead (the secondary engine must hear it).
* Otherwise it is validated again, but a stored transcript whose fingerprint matches the engine
  this run would use is reused, not transcribed again (``--force`` redoes everything). So a run
  killed mid-way and started again transcribes only what is missing, and a changed MOS plan
  costs no ASR.

Example::

    wanted = requested_fingerprints({"primary": judge}, "primary", thresholds, checks, False, plan)
    work = plan_work(clips, stored, wanted, "primary", force=False)
    work.todo, work.rejudge, len(work.current), work.known["primary"]  # to run, to re-judge, skipped, reused
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judges.base import ASRJudge, Transcript
from pipeline.choices import EngineMode
from pipeline.clip_checks import ClipCheckThresholds
from pipeline.fingerprints import asr_fingerprint, mos_fingerprint, quality_fingerprint, verdicts_fingerprint
from pipeline.records import ClipSource
from pipeline.stages.quality import MOSPlan
from pipeline.store.scans import StoredClip
from pipeline.store.transcripts import ROLES, transcript_from_row
from verdicts import Thresholds

RESULT_GROUPS = ("verdicts", "quality", "mos")  # groups every validated clip records


def requested_fingerprints(
    judges: Mapping[str, ASRJudge | None],
    engines: EngineMode | str,
    thresholds: Thresholds,
    checks: ClipCheckThresholds,
    speaker: bool,
    mos: MOSPlan,
) -> dict[str, Any]:
    """The fingerprints of the work a run asks for: one per engine it builds (a role whose judge
    is None takes whatever transcript is stored), the verdicts, quality and MOS groups."""
    judge_versions = {j.info.name: j.info.version for j in mos.judges}
    wanted: dict[str, Any] = {role: asr_fingerprint(j) if j is not None else None for role, j in judges.items()}
    return wanted | {
        "verdicts": verdicts_fingerprint(thresholds, engines),
        "quality": quality_fingerprint(checks, speaker),
        "mos": mos_fingerprint(mos.mode, mos.sample_rate, mos.seed, judge_versions),
    }


def roles_needed(engines: EngineMode | str, escalated: bool) -> tuple[str, ...]:
    """The transcripts a labeled clip's stored result must rest on under ``engines``."""
    if engines == EngineMode.primary:
        return ("primary",)
    if engines == EngineMode.secondary:
        return ("secondary",)
    if engines == EngineMode.cascade and not escalated:
        return ("primary",)
    return ROLES


def transcripts_current(stored: StoredClip, wanted: Mapping[str, Any], engines: EngineMode | str) -> bool:
    """Whether the stored verdicts of a labeled clip rest on every transcript ``engines`` needs,
    each made by the engine this run would use (any, for a role it takes from the store)."""
    prints = stored.fingerprints
    return all(
        prints.get(role) is not None and (wanted.get(role) is None or prints[role] == wanted[role])
        for role in roles_needed(engines, bool(stored.row.get("escalated")))
    )


def is_current(clip: ClipSource, stored: StoredClip, wanted: Mapping[str, Any], engines: EngineMode | str) -> bool:
    """Whether the stored result of ``clip`` is what this run would write."""
    if any(stored.fingerprints.get(group) != wanted[group] for group in RESULT_GROUPS):
        return False
    if not clip.labeled:
        return stored.row.get("labeled") is False
    return transcripts_current(stored, wanted, engines)


def only_verdicts_stale(
    clip: ClipSource, stored: StoredClip, wanted: Mapping[str, Any], engines: EngineMode | str
) -> bool:
    """Whether ``stored`` differs from what this run would write in its verdicts alone (rules or
    thresholds), so judging its stored transcripts again gives what a full run would: a labeled
    clip of our own manifest (its fed phonemes are stored), judged under the same engine mode,
    with current clip checks and MOS plan and every transcript it needs stored and current."""
    prints = stored.fingerprints
    if not clip.labeled or not stored.row.get("word_phonemes") or stored.row.get("validate_error"):
        return False
    if any(prints.get(group) != wanted[group] for group in ("quality", "mos")):
        return False
    if (prints.get("verdicts") or {}).get("engines") != wanted["verdicts"]["engines"]:
        return False
    roles = roles_needed(engines, bool(stored.row.get("escalated")))
    return transcripts_current(stored, wanted, engines) and all(reusable(stored, r, wanted) for r in roles)


def reusable(stored: StoredClip, role: str, wanted: Mapping[str, Any]) -> bool:
    """A stored transcript this run can use instead of transcribing: made by the engine it
    would run (or any, for a role it takes from the store), and not a failure."""
    row = stored.transcripts.get(role)
    if row is None or row["error"] is not None:
        return False
    return wanted.get(role) is None or row["fingerprint"] == wanted[role]


@dataclass
class WorkPlan:
    """What a run does: ``todo`` clips (in order), the ones it judges again from the store
    (``rejudge``), the ``current`` ones it skips, and stored transcripts it reuses (``known``:
    role -> file_hash -> transcript, with their fingerprints)."""

    todo: list[ClipSource] = field(default_factory=list)
    rejudge: list[ClipSource] = field(default_factory=list)
    current: list[ClipSource] = field(default_factory=list)
    known: dict[str, dict[str, Transcript]] = field(default_factory=lambda: {r: {} for r in ROLES})
    known_prints: dict[str, dict[str, dict]] = field(default_factory=lambda: {r: {} for r in ROLES})


def plan_work(
    clips: Sequence[ClipSource],
    stored: Mapping[str, StoredClip],
    wanted: Mapping[str, Any],
    engines: EngineMode | str,
    *,
    force: bool,
) -> WorkPlan:
    plan = WorkPlan()
    for clip in clips:
        found = stored.get(clip.file_hash)
        if found is None:
            plan.todo.append(clip)
            continue
        if not force and is_current(clip, found, wanted, engines):
            plan.current.append(clip)
            continue
        if not force and only_verdicts_stale(clip, found, wanted, engines):
            plan.rejudge.append(clip)
        else:
            plan.todo.append(clip)
        for role in ROLES:  # also for a re-judged clip: the cascade may send it on to the todo
            # --force transcribes again with every engine the run builds (a role taken from the
            # store, such as the primary of a staged secondary scan, is still taken from it)
            if role in wanted and (not force or wanted[role] is None) and reusable(found, role, wanted):
                row = found.transcripts[role]
                plan.known[role][clip.file_hash] = transcript_from_row(row)
                plan.known_prints[role][clip.file_hash] = row["fingerprint"]
    return plan
