"""``heal`` as a library call: every (chunk, voice) of a dataset whose selected clip is not kept
walks the heal ladder (``pipeline.heal.ladder``) until an attempt is kept or the ladder (or
``max_attempts``) ends, and the best take of each is selected (``pipeline.heal.selection``).

Each round makes the next attempt of every chunk still failing, synthesizes them with the
project's synthesize stage (``run_generation``: own wav, manifest line and generation row), then
validates them with ``validate_clips`` (the engines, judges, checks and rules of ``validate``),
and selects again. Everything heal decides is read back from the store (which attempts exist,
their steps, their verdicts), so a rerun continues where a killed run stopped: attempts already
synthesized are skipped by content id, attempts not yet validated are validated first, and an
attempt in flight is all a kill loses.

Example::

    from pipeline.jobs.heal import HealRequest, heal
    report = heal(HealRequest(dataset="main"), get_settings())
    report.after.covered, report.after.chunks, report.rejects
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path

import pipeline
from pipeline.choices import EngineMode, RunMode, TTSBackendName
from pipeline.heal.ladder import (
    BACKEND,
    CANDIDATE,
    DEFAULT_LADDER,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SPEED_STEP,
    LEXICON,
    RESPELL,
    SPEED,
    SPLIT,
    STRESS,
    Rung,
    next_rung,
    speed_for,
    split_label,
)
from pipeline.heal.selection import Take, choose, write_selection
from pipeline.heal.state import ClipRow, GroupKey, by_group, failing_words, load_clips
from pipeline.jobs.errors import JobError
from pipeline.jobs.generate import combine_book, run_generation, synthesize_stage
from pipeline.jobs.plumbing import open_runner, runner_errors
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.jobs.validate import ValidateRequest, validate_clips
from pipeline.lifecycle import guarded_run
from pipeline.manifest import Manifest
from pipeline.names import check_dataset_name
from pipeline.records import AudioRecord, Chunk
from pipeline.settings import Settings
from pipeline.stages.synthesize import SynthesisJob
from pipeline.tts.engine import derive_seed
from pipeline.tts.g2p import G2P
from pipeline.tts.g2p_audit import G2PAuditor
from verdicts.languages import foreign_runs, run_stretches

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealRequest:
    """One ``heal`` call over a generated (and usually validated) dataset."""

    dataset: str
    ladder: tuple[str, ...] = DEFAULT_LADDER
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # re-syntheses per (chunk, voice); a split pair is one
    speed_step: float = DEFAULT_SPEED_STEP
    lexicon: Path | None = None  # word -> phonemes (pipeline.heal.pronunciations)
    engines: EngineMode = EngineMode.cascade
    mode: RunMode = RunMode.batch
    combine: bool = False  # rewrite each voice's combined wav from the selected clips
    candidates: tuple[str, ...] = ()  # other datasets whose clips with a chunk's exact label compete


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the book the selection covers with kept clips."""

    chunks: int  # (chunk, voice) pairs
    covered: int  # ... whose selected take is kept
    hours_kept: float  # audio of those takes
    attempts: int  # re-syntheses stored (attempt > 0)

    @property
    def share(self) -> float:
        return self.covered / self.chunks if self.chunks else 0.0


@dataclass
class HealReport:
    before: Coverage = Coverage(0, 0, 0.0, 0)
    after: Coverage = Coverage(0, 0, 0.0, 0)
    rounds: int = 0
    attempts_made: int = 0  # this run
    validated: int = 0  # clips validated this run (attempts, and clips never validated before)
    candidates: int = 0  # clips of --candidates datasets imported this run
    healed: list[GroupKey] = field(default_factory=list)  # not kept before, kept now
    rejects: list[GroupKey] = field(default_factory=list)  # still not kept after the ladder
    failures: list[str] = field(default_factory=list)  # attempts that could not be made
    combined: list[tuple[Path, int, float]] = field(default_factory=list)
    wall_s: float = 0.0
    run_id: int | None = None


def coverage(groups: dict[GroupKey, list[ClipRow]], eligible: Set[str] | None = None) -> Coverage:
    covered, seconds = 0, 0.0
    for rows in groups.values():
        take = choose(rows, eligible)
        if take is not None and take.kept:
            covered += 1
            seconds += sum(c.duration_s or 0.0 for c in take.clips)
    attempts = len(
        {(key, r.attempt) for key, rows in groups.items() for r in rows if _resynthesis(r) and _ok(r, eligible)}
    )
    return Coverage(len(groups), covered, round(seconds / 3600, 4), attempts)


def _resynthesis(row: ClipRow) -> bool:
    """An attempt heal synthesized (candidates from other datasets are not)."""
    return row.attempt > 0 and row.heal_step != CANDIDATE


def _ok(row: ClipRow, eligible: Set[str] | None) -> bool:
    return eligible is None or row.file_hash in eligible


def _template(record: AudioRecord) -> Chunk:
    """The chunk a record was made from, enough to phonemize its label again."""
    return Chunk(
        book_id=record.book_id, index=record.chunk_index, chapter_index=record.chapter_index, chapter_title="",
        kind=record.kind, text=record.text, speak_text="", phonemes=record.phonemes, n_words=len(record.text.split()),
        est_seconds=record.duration_s,
    )  # fmt: skip


def _other_backend(record: AudioRecord) -> TTSBackendName | None:
    """The backend the record was not made with, when it can run here."""
    other = TTSBackendName.onnx if "torch" in record.tts_engine.lower() else TTSBackendName.torch
    if other == TTSBackendName.torch and importlib.util.find_spec("torch") is None:
        return None
    return other


class _Planner:
    """Decides each failing chunk's next attempt and builds its synthesis jobs (G2P loaded once)."""

    def __init__(
        self, request: HealRequest, settings: Settings, lexicon: dict[str, str], failing: dict[str, tuple[int, ...]]
    ) -> None:
        self.request = request
        self.settings = settings
        self.lexicon = lexicon
        self.failing = failing  # file_hash -> label words not heard as written
        # per misaki English: the G2P, its audit as generate ran it, and the audit's text fixes
        self._readers: dict[str, tuple[G2P, G2PAuditor, G2PAuditor]] = {}
        self._chunks: dict[tuple, Chunk | None] = {}
        self.tried: set[str] = set()  # job ids made (or failed) this run

    def accent(self, record: AudioRecord) -> str:
        """The misaki English ``record`` was phonemized in: its voice's own with ``g2p_by_voice``
        (as generate does), else the settings' ``lang_code``."""
        from pipeline.tts.voices import VoiceError, g2p_lang, parse_recipe

        try:
            components = tuple(parse_recipe(record.voice_recipe or record.voice))
        except VoiceError:
            components = ()
        return g2p_lang(components, self.settings.lang_code, self.settings.g2p_by_voice)

    def readers(self, record: AudioRecord) -> tuple[G2P, G2PAuditor, G2PAuditor]:
        """(G2P, its audit, the audit's text fixes) in ``record``'s accent, loaded once each."""
        accent = self.accent(record)
        if accent not in self._readers:
            g2p = G2P(accent)
            settings = self.settings
            # The heteronym opinions as generate ran them: a take whose fed reading is disputed
            # must carry that finding, or re-making the clip would drop the reason unexamined.
            opinion = settings.g2p_second_opinion
            auditor = G2PAuditor(
                g2p, keep_caps=settings.keep_caps, second_opinion=opinion, foreign_readings=settings.foreign_g2p
            )
            fixer = G2PAuditor(g2p, keep_caps=False, second_opinion=opinion, foreign_readings=True)
            auditor.setup()
            fixer.setup()
            self._readers[accent] = (g2p, auditor, fixer)
        return self._readers[accent]

    def chunk(self, record: AudioRecord, text: str, *, fixes: bool) -> Chunk | None:
        """``text`` phonemized for ``record``'s chunk: with the lexicon (when given) and, with
        ``fixes``, the G2P audit's text fixes; None when it cannot be made into a chunk."""
        from pipeline.heal.rechunk import chunk_for_label

        key = (record.book_id, record.chunk_index, text, fixes, self.accent(record))
        if key not in self._chunks:
            try:
                g2p, auditor, fixer = self.readers(record)
                self._chunks[key] = chunk_for_label(
                    _template(record), text, g2p, fixer if fixes else auditor,
                    overrides=self.lexicon or None,
                    phonemes_per_second=self.settings.phonemes_per_second / self.settings.speed,
                )  # fmt: skip
            except ValueError:
                self._chunks[key] = None
        return self._chunks[key]

    def _failing_in(self, record: AudioRecord, text: str, first_word: int) -> tuple[Chunk | None, list[int]]:
        """The chunk of ``text`` (``record``'s label from word ``first_word`` on) and the indices,
        within it, of the words ``record``'s clip did not say as written."""
        chunk = self.chunk(record, text, fixes=False)
        words = [i - first_word for i in self.failing.get(record.file_hash, ()) if i >= first_word]
        return chunk, [i for i in words if i < len(text.split())]

    def stressed(self, record: AudioRecord, text: str, first_word: int) -> Chunk | None:
        """That chunk with its failing unstressed words stressed; None when none of them is."""
        from pipeline.heal.rechunk import with_stressed_words

        chunk, words = self._failing_in(record, text, first_word)
        return None if chunk is None else with_stressed_words(chunk, words)

    def espeak(self, language: str | None = None, accent: str = "a") -> Callable[[str], str | None] | None:
        """espeak-ng reading one word (IPA) in ``accent``'s English, or in ``language`` (a code of
        ``verdicts.languages.FOREIGN_LANGUAGES``); None when it cannot load (each reader is
        loaded when the respell rung first asks for it)."""
        from pipeline.tts.espeak import english_voice, word_reader
        from verdicts.languages import FOREIGN_LANGUAGES

        return word_reader(FOREIGN_LANGUAGES.get(language or "") or english_voice(accent))

    @functools.cached_property
    def kokoro_vocab(self) -> frozenset[str]:
        from pipeline.tts.backend import kokoro_config

        return frozenset(kokoro_config()["vocab"])

    def respelled(self, record: AudioRecord, text: str, first_word: int) -> Chunk | None:
        """That chunk with its failing words read as espeak-ng reads them (words of a run in
        another language, ``verdicts.languages``, in that language, and the whole run with
        them), where that differs from what Kokoro was fed; None when no word differs."""
        from pipeline.heal.rechunk import with_word_readings, word_reading
        from pipeline.tts.espeak import second_reading
        from verdicts.phonemes import clean

        chunk, words = self._failing_in(record, text, first_word)
        if chunk is None or not words:
            return None
        tokens = text.split()
        foreign = foreign_runs(tokens)  # words of another language: read by its own G2P
        # a run is read in one language: a failing word of it brings the whole run along
        runs = [range(first, last + 1) for first, last, _ in run_stretches(foreign)]
        words = sorted({*words, *(i for run in runs if any(w in run for w in words) for i in run)})
        readings = {}
        for index in words:
            span = chunk.word_spans[index] if index < len(chunk.word_spans) else None
            reader = self.espeak(foreign.get(index), self.accent(record))
            theirs = second_reading(tokens[index], reader, self.kokoro_vocab) if reader is not None else None
            if span is None or theirs is None:
                continue
            ours = word_reading(chunk.phonemes[span[0] : span[1]])[1]
            if clean(theirs) != clean(ours):
                readings[index] = theirs
        return with_word_readings(chunk, readings)

    def applicable(self, record: AudioRecord) -> set[str]:
        steps = {SPEED}
        fixed = self.chunk(record, record.text, fixes=True)
        if fixed is not None and fixed.phonemes != record.phonemes:
            steps.add(LEXICON)
        if self.stressed(record, record.text, 0) is not None:
            steps.add(STRESS)
        if RESPELL in self.request.ladder and self.respelled(record, record.text, 0) is not None:
            steps.add(RESPELL)
        if split_label(record.text) is not None:
            steps.add(SPLIT)
        if _other_backend(record) is not None:
            steps.add(BACKEND)
        return steps

    def learned(self, record: AudioRecord, rows: Sequence[ClipRow], records: dict[str, AudioRecord]) -> dict[int, str]:
        """Word readings that an earlier ``stress``/``respell`` attempt of ``record``'s chunk
        changed and that were then heard as written (label word index -> phonemes): every later
        attempt keeps them, so a word fixed once is not said the old way again by the next rung."""
        from pipeline.heal.rechunk import learned_readings

        edits = []
        for row in sorted(rows, key=lambda r: r.attempt):
            attempt = records.get(row.file_hash)
            if row.heal_step in (STRESS, RESPELL) and not row.chunk_part and row.validated and attempt is not None:
                edits.append((tuple(attempt.word_phonemes), set(self.failing.get(row.file_hash, ()))))
        return learned_readings(tuple(record.word_phonemes), edits)

    def jobs(
        self,
        record: AudioRecord,
        rung: Rung,
        attempt: int,
        halves_left: set[str] | None,
        learned: dict[int, str] | None = None,
    ) -> list[SynthesisJob]:
        """The clips of one attempt: the whole chunk, both halves for the split rung, or, once the
        chunk was split (``halves_left``: its halves with no kept clip yet), only those halves,
        with the ``learned`` word readings of earlier attempts; [] when it cannot be made."""
        from pipeline.heal.rechunk import with_word_readings

        speed = speed_for(record.speed, rung.variant, self.request.speed_step) if rung.step == SPEED else record.speed
        if rung.step == SPLIT or halves_left:
            halves = split_label(record.text)
            wanted = {"a", "b"} if rung.step == SPLIT else halves_left
            parts = [(part, text) for part, text in zip("ab", halves or (), strict=False) if part in wanted]
        else:
            parts = [("", record.text)]
        chunks = [(part, self.chunk(record, text, fixes=rung.step == LEXICON)) for part, text in parts]
        first_word = {"": 0, "a": 0, "b": len((split_label(record.text) or ("",))[0].split())}
        if rung.step in (STRESS, RESPELL):
            edit = self.stressed if rung.step == STRESS else self.respelled
            edited = [edit(record, text, first_word[part]) for part, text in parts]
            if all(chunk is None for chunk in edited):
                return []
            chunks = [(part, new or chunk) for (part, chunk), new in zip(chunks, edited, strict=True)]
        if not chunks or any(chunk is None for _, chunk in chunks):
            return []
        if learned:
            chunks = [
                (part, with_word_readings(chunk, {i - first_word[part]: r for i, r in learned.items()}) or chunk)
                for part, chunk in chunks
            ]
        stem = record.wav_path.rsplit("/", 1)[0] + f"/chunk_{record.chunk_index:05d}"
        backend = str(_other_backend(record)) if rung.step == BACKEND else ""
        out = []
        for part, chunk in chunks:
            key = "\x1f".join([record.id, str(attempt), rung.step, part, chunk.phonemes, f"{speed:.4f}", backend])
            job_id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
            name = f"{stem}{part}.try{attempt}"
            out.append(
                SynthesisJob(
                    id=job_id,
                    dataset=record.dataset,
                    chunk=chunk,
                    voice=record.voice,
                    voice_recipe=record.voice_recipe,
                    speed=speed,
                    seed=derive_seed(self.settings.seed, job_id),
                    wav_path=f"{name}.wav",
                    txt_path=f"{name}.txt",
                    attempt=attempt,
                    chunk_part=part,
                    heal_step=rung.step,
                )  # fmt: skip
            )
        return out


def _next_attempts(
    groups: dict[GroupKey, list[ClipRow]], records: dict[str, AudioRecord], planner: _Planner, request: HealRequest
) -> dict[TTSBackendName | None, list[SynthesisJob]]:
    """The next attempt of every failing chunk, by backend (None: the one the settings name).
    A job this run already tried (its synthesis failed) is not tried again."""
    out: dict[TTSBackendName | None, list[SynthesisJob]] = {}
    eligible = set(records)
    for rows in groups.values():
        take = choose(rows, eligible)
        if take is not None and take.kept:
            continue
        rows = [r for r in rows if r.file_hash in eligible]  # a clip regenerated since is gone
        base = next((records.get(r.file_hash) for r in rows if r.attempt == 0 and r.chunk_part is None), None)
        if base is None:
            continue  # not one of our clips (or its manifest line is gone): nothing to re-synthesize
        tried = {r.attempt: r.heal_step or "" for r in rows if _resynthesis(r)}
        if len(tried) >= request.max_attempts:
            continue
        if any(not r.validated for r in rows):
            continue  # an attempt whose validation failed to land: the next run validates it first
        rung = next_rung(request.ladder, tried.values(), planner.applicable(base))
        if rung is None:
            continue
        attempt = max(r.attempt for r in rows) + 1
        split = any(r.chunk_part for r in rows if r.heal_step == SPLIT)
        halves_left = {p for p in ("a", "b") if not any(r.chunk_part == p and r.keep for r in rows)} if split else None
        jobs = planner.jobs(base, rung, attempt, halves_left, planner.learned(base, rows, records))
        if not jobs or any(job.id in planner.tried for job in jobs):
            continue
        planner.tried.update(job.id for job in jobs)
        out.setdefault(_other_backend(base) if rung.step == BACKEND else None, []).extend(jobs)
    return out


def _combine(dataset_dir: Path, groups, records: dict[str, AudioRecord]) -> list[tuple[Path, int, float]]:
    """One wav per (book, voice) from the selected takes, in book order."""
    from pipeline.tts.voices import voice_slug

    voices: dict[tuple[str, str], list[AudioRecord]] = {}
    for key in sorted(groups):
        take = choose(groups[key], set(records))
        if take is None:
            continue
        for clip in take.clips:
            if (record := records.get(clip.file_hash)) is not None:
                voices.setdefault((key[0], key[1]), []).append(record)
    out = []
    for (book, voice), chosen in sorted(voices.items()):
        chosen.sort(key=lambda r: (r.chunk_index, r.chunk_part))
        target = dataset_dir / book / voice_slug(voice) / f"{book}.wav"
        out.append((target, len(chosen), combine_book(chosen, dataset_dir, target)))
    return out


class _Heal:
    """One heal run: the store, the manifest and the validate request it reuses."""

    def __init__(self, request: HealRequest, settings: Settings, store, reporter: Reporter) -> None:
        self.request = request
        self.settings = settings
        self.store = store
        self.reporter = reporter
        self.dataset_dir = settings.datasets_dir / request.dataset
        self.manifest = Manifest.for_dataset(self.dataset_dir)
        self.validate_request = ValidateRequest(
            source=self.dataset_dir, dataset=request.dataset, engines=request.engines, mode=request.mode
        )

    def records(self) -> dict[str, AudioRecord]:
        return {r.file_hash: r for r in self.manifest.records()}

    def validate_pending(self, records: dict[str, AudioRecord], report: HealReport) -> None:
        """Validate every clip of the dataset that has no verdicts yet (attempts a killed run
        made, or a dataset generated but never validated)."""
        from pipeline.sources import clip_source

        rows = load_clips(self.store, self.request.dataset)
        pending = [records[r.file_hash] for r in rows if not r.validated and r.file_hash in records]
        pending = [r for r in pending if (self.dataset_dir / r.wav_path).is_file()]
        if not pending:
            return
        clips = [clip_source(r, self.dataset_dir, self.request.dataset) for r in pending]
        validated = validate_clips(clips, self.validate_request, self.settings, self.reporter)
        report.validated += len(validated.results)
        if validated.database.error:
            raise JobError(f"database writes failed while validating: {validated.database.error}")

    def synthesize(self, jobs: Sequence[SynthesisJob], backend: TTSBackendName | None, report: HealReport) -> None:
        from pipeline.store.store import ResilientSink
        from pipeline.tts.engine import build_engine
        from pipeline.tts.voices import VoiceError

        if not jobs:
            return
        settings = self.settings if backend is None else self.settings.model_copy(update={"tts_backend": backend})
        engine = build_engine(settings)
        try:
            resolved = [(spec, engine.resolve_voice(spec)) for spec in sorted({job.voice for job in jobs})]
        except VoiceError as exc:
            raise JobError(str(exc)) from exc
        stage = synthesize_stage(settings, resolved, self.dataset_dir)
        workers = max(1, min(settings.workers or os.cpu_count() or 1, -(-len(jobs) // settings.batch_size)))
        sink = ResilientSink(self.store)
        with open_runner(settings, workers) as runner:
            try:
                done = run_generation(
                    stage, jobs, self.manifest, runner=runner, batch_size=settings.batch_size, sinks=[sink],
                    reporter=self.reporter,
                )  # fmt: skip
            except runner_errors() as exc:
                raise JobError(str(exc)) from exc
        if sink.error:
            raise JobError(f"database writes failed while storing attempts: {sink.error}")
        report.attempts_made += len({(r.book_id, r.voice, r.chunk_index, r.attempt) for r in done.written})
        report.failures += [f.error for f in done.failures]

    def import_candidates(self, records, groups, report: HealReport):
        """Clips of the ``--candidates`` datasets with a chunk's exact label join its group."""
        from pipeline.heal.candidates import import_candidates

        for other in self.request.candidates:
            other_dir = self.settings.datasets_dir / other
            new = import_candidates(
                self.store, self.request.dataset, self.dataset_dir, other, other_dir, groups, records
            )
            report.candidates += len(new)
            self.reporter.note(f"{len(new)} candidate clip(s) from dataset {other}")
            records = self.records()
            groups = self.groups()
        return records, groups

    def groups(self) -> dict[GroupKey, list[ClipRow]]:
        return by_group(load_clips(self.store, self.request.dataset))

    def run(self, report: HealReport) -> None:
        from pipeline.heal.pronunciations import load_lexicon

        lexicon = load_lexicon(self.request.lexicon) if self.request.lexicon else {}
        records = self.records()
        if not records:
            raise JobError(f"{self.dataset_dir}: no clips to heal (run `pipeline generate` first)")
        self.store.write_generation(list(records.values()))  # the store in step with the manifest
        self.validate_pending(records, report)
        groups = self.groups()
        if self.request.candidates:
            records, groups = self.import_candidates(records, groups, report)
        write_selection(self.store, self.request.dataset, groups, set(records))
        report.before = coverage(groups, set(records))
        failing_before = {key for key, rows in groups.items() if not ((t := choose(rows, set(records))) and t.kept)}
        self.reporter.note(f"{report.before.covered}/{report.before.chunks} chunks covered by a kept clip before heal")
        planner = None
        if failing_before:
            planner = _Planner(self.request, self.settings, lexicon, failing_words(self.store, self.request.dataset))
        while planner is not None:
            by_backend = _next_attempts(groups, records, planner, self.request)
            if not by_backend:
                break
            report.rounds += 1
            n_clips = sum(map(len, by_backend.values()))
            self.reporter.note(f"heal round {report.rounds}: {n_clips} clip(s) to make")
            for backend, jobs in by_backend.items():
                self.synthesize(jobs, backend, report)
            records = self.records()
            self.validate_pending(records, report)
            groups = self.groups()
            write_selection(self.store, self.request.dataset, groups, set(records))
        report.after = coverage(groups, set(records))
        kept_now = {key for key, rows in groups.items() if (t := choose(rows, set(records))) is not None and t.kept}
        report.healed = sorted(failing_before & kept_now)
        report.rejects = sorted(set(groups) - kept_now)
        if self.request.combine:
            report.combined = _combine(self.dataset_dir, groups, records)


def heal(request: HealRequest, settings: Settings, reporter: Reporter | None = None) -> HealReport:
    """Heal ``request.dataset`` (see the module docstring); raises ``JobError`` for input it
    cannot use or when the database (where attempts and the selection live) is unreachable."""
    from pipeline.heal.pronunciations import LexiconError
    from pipeline.lifecycle import mark_stale_runs, process_identity
    from pipeline.store.connection import StoreUnavailable
    from pipeline.store.store import Store

    reporter = reporter or LogReporter()
    try:
        for name in (request.dataset, *request.candidates):
            check_dataset_name(name)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    if request.max_attempts < 0:
        raise JobError("--max-attempts must be 0 or more")
    dataset_dir = settings.datasets_dir / request.dataset
    if not Manifest.for_dataset(dataset_dir).path.is_file():
        raise JobError(f"{dataset_dir}: no manifest.jsonl (heal works on datasets made by `pipeline generate`)")
    report = HealReport()
    started = time.perf_counter()
    try:
        store = Store.from_settings(settings)
        mark_stale_runs(store)
        args = {
            "ladder": list(request.ladder),
            "max_attempts": request.max_attempts,
            "engines": request.engines,
            "lexicon": str(request.lexicon) if request.lexicon else None,
            "speed_step": request.speed_step,
            "candidates": list(request.candidates),
        }
        versions = {"pipeline": pipeline.__version__}
        report.run_id = store.start_run("heal", args, versions, request.dataset, owner=process_identity())
        with guarded_run(store, report.run_id):
            try:
                _Heal(request, settings, store, reporter).run(report)
            except (JobError, LexiconError) as exc:
                _finish(store, report, str(exc), started)
                raise JobError(str(exc)) from exc
            except BaseException as exc:  # stopped: what finished is stored, a rerun continues
                _finish(store, report, f"interrupted: {type(exc).__name__}: {exc}", started)
                raise
            _finish(store, report, None, started)
    except StoreUnavailable as exc:
        raise JobError(f"heal needs the database (attempts and the selection live there): {exc}") from exc
    return report


def _finish(store, report: HealReport, error: str | None, started: float) -> None:
    from pipeline.store.connection import StoreUnavailable

    report.wall_s = time.perf_counter() - started
    counts = {
        "chunks": report.after.chunks or report.before.chunks,
        "covered_before": report.before.covered,
        "covered_after": report.after.covered,
        "hours_kept_before": report.before.hours_kept,
        "hours_kept_after": report.after.hours_kept,
        "attempts_made": report.attempts_made,
        "attempts_total": report.after.attempts,
        "validated": report.validated,
        "candidates": report.candidates,
        "healed": len(report.healed),
        "rejects": len(report.rejects),
        "rounds": report.rounds,
        "failed": len(report.failures),
    }
    try:
        store.finish_run(
            report.run_id,
            status="failed" if error or report.failures else "ok",
            counts=counts,
            audio_s=report.after.hours_kept * 3600 or None,
            wall_s=report.wall_s,
            error=error,
        )
    except StoreUnavailable:
        pass


def take_summary(take: Take | None) -> str:
    """``"attempt 2 (speed), kept"`` for the CLI."""
    if take is None:
        return "no validated take"
    split = ", split" if take.split else ""
    return f"attempt {take.attempt} ({take.steps}{split}), {'kept' if take.kept else 'not kept'}"
