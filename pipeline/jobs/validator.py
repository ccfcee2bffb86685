"""A validator that keeps its models loaded: the library side of the HTTP validator API.

``validate`` (pipeline/jobs/validate.py) builds its engines per run and frees each one when its
stage is done. A server validates a clip or a few at a time, so ``ResidentValidator`` builds each
engine the first time it is needed and keeps it: the same stages and verdict flow
(``run_validation``), mapped by a :class:`ResidentRunner` that sets a stage up (its judge loads
once; ``Judge.setup`` is idempotent) but never tears it down. Engines come from the settings
(``asr_primary`` / ``asr_secondary``, ``auto`` resolved as ``validate`` does; one instance per
engine name, on ``asr_device``); MOS judges from ``mos_judges`` (on ``mos_device``).

Not thread-safe: one call at a time (the service holds one lock around every call). Example::

    validator = ResidentValidator(settings)
    results = validator.validate([clip], engines="cascade", include_mos=True)  # loads on first use
    scores = validator.score_mos(Path("clip.wav"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judges.base import ASRJudge, AudioItem, MOSJudge
from pipeline.choices import EngineMode, MosMode, RunMode
from pipeline.jobs.errors import JobError
from pipeline.jobs.validate import clip_checks_from, run_validation, score_with_judges
from pipeline.keep import clip_decision
from pipeline.records import ClipResult, ClipSource
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure, Stage
from pipeline.stages.quality import MOSPlan, mos_row, signal_row
from pipeline.store.rows import validation_groups, word_rows


class ResidentRunner:
    """Maps a stage in this process, setting it up first and never tearing it down: the judges
    behind the stages stay loaded between calls (their ``setup`` does nothing the second time)."""

    def map_batches(
        self, stage: Stage, batches: Iterable[Sequence[Any]], **_: Any
    ) -> Iterator[tuple[Sequence[Any], list[Any | ItemFailure]]]:
        stage.setup()
        for batch in batches:
            yield batch, stage.process_batch(batch)


@dataclass(frozen=True, slots=True)
class MOSReport:
    """One clip's MOS columns (``mos_row``) and signal metrics; ``skipped``: judge -> why not."""

    mos: dict | None
    signal: dict | None
    signal_error: str | None
    judges: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)


class ResidentValidator:
    """ASR engines and MOS judges built on first use and kept loaded; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._asr: dict[str, ASRJudge] = {}  # engine name -> judge (primary and secondary may share one)
        self._mos: tuple[list[MOSJudge], dict[str, str]] | None = None
        self._runner = ResidentRunner()

    # --- engines ---------------------------------------------------------------------------

    def engine_names(self) -> dict[str, str]:
        """{role: engine name} as the settings resolve them (``auto`` as ``validate`` resolves it)."""
        from judges.registry import resolve_engine

        try:
            return {
                role: resolve_engine(requested, role, self.settings).name
                for role, requested in (
                    ("primary", self.settings.asr_primary),
                    ("secondary", self.settings.asr_secondary),
                )
            }
        except ValueError as exc:
            raise JobError(str(exc)) from exc

    def _judge(self, name: str) -> ASRJudge:
        from judges.registry import build_asr

        if name not in self._asr:
            self._asr[name] = build_asr(name, self.settings)
        return self._asr[name]

    def mos_judges(self, only: Sequence[str] | None = None) -> tuple[list[MOSJudge], dict[str, str]]:
        """The configured MOS judges that can run here (``only``: a subset of them, by name) and
        {name: why skipped}. A name outside ``mos_judges`` is a ``JobError``."""
        from judges.mos import build_mos_judges

        if self._mos is None:
            try:
                self._mos = build_mos_judges(self.settings.mos_judges, self.settings)
            except ValueError as exc:
                raise JobError(str(exc)) from exc
        judges, skipped = self._mos
        if only is None:
            return list(judges), dict(skipped)
        configured = [name.strip().lower() for name in self.settings.mos_judges]
        unknown = [name for name in only if name not in configured]
        if unknown:
            raise JobError(f"MOS judge(s) {', '.join(unknown)} not configured; configured: {', '.join(configured)}")
        return [j for j in judges if j.info.name in only], {n: r for n, r in skipped.items() if n in only}

    def loaded(self) -> dict[str, str]:
        """{model name: device} of every model loaded so far."""
        judges: list[Any] = [*self._asr.values(), *(self._mos[0] if self._mos else [])]
        return {j.info.name: j.info.device for j in judges if j.loaded}

    def close(self) -> None:
        for judge in [*self._asr.values(), *(self._mos[0] if self._mos else [])]:
            judge.teardown()

    # --- work ------------------------------------------------------------------------------

    def validate(
        self, clips: Sequence[ClipSource], *, engines: EngineMode | str, include_mos: bool
    ) -> list[ClipResult]:
        """Verdicts (and, with ``include_mos``, every configured MOS judge) for ``clips``, in
        order: ``run_validation`` in batch mode with the resident engines."""
        names = self.engine_names()
        needed = {"primary": engines != EngineMode.secondary, "secondary": engines != EngineMode.primary}
        judges = {role: self._judge(names[role]) for role in names if needed[role]}
        mos = MOSPlan(mode=MosMode.none)
        if include_mos:
            mos_judges, skipped = self.mos_judges()
            mos = MOSPlan(MosMode.all, seed=self.settings.mos_seed, judges=tuple(mos_judges), skipped=skipped)
        report = run_validation(
            clips,
            primary=judges.get("primary"),
            secondary=judges.get("secondary"),
            engines=engines,
            mode=RunMode.batch,
            thresholds=self.settings.thresholds,
            mos=mos,
            runner=self._runner,
            checks=clip_checks_from(self.settings),
        )
        return report.results

    def score_mos(self, audio_path: Path, only: Sequence[str] | None = None) -> MOSReport:
        """The MOS judges' scores (composite included) and the signal metrics of one file."""
        judges, skipped = self.mos_judges(only)
        item = AudioItem(str(audio_path), str(audio_path))
        scores = score_with_judges(self._runner, judges, [item])[item.key]
        signal, problem = signal_row(str(audio_path))
        errors = {s.judge: s.error for s in scores if s.error}
        mos = mos_row(scores, self.settings.mos_seed) if scores else None
        if mos is not None and errors:
            mos["errors"] = errors
        return MOSReport(mos, signal, problem, tuple(j.info.name for j in judges), skipped)


def result_json(result: ClipResult, *, detail: bool = False) -> dict[str, Any]:
    """One validated clip as JSON: the keep decision up front, then ``row`` (the ``audio_quality``
    columns the store would write, from the same row builder) and, with ``detail``, ``words``
    (the ``audio_words`` rows)."""
    decision = clip_decision(result)
    row = {column: value for group in validation_groups(result).values() for column, value in group.items()}
    out: dict[str, Any] = {
        "file_hash": result.clip.file_hash,
        "dataset": result.clip.dataset,
        "path": result.clip.path,
        "keep": decision.keep if decision is not None else None,
        "tier": decision.tier if decision is not None else None,
        "reject_reasons": list(decision.reasons) if decision is not None else [],
        "error": result.error,
        "row": row,
    }
    if detail:
        out["words"] = word_rows(result)
    return out
