"""The synthesize stage: ``SynthesisJob`` (a chunk x a voice) -> ``.wav`` + ``.txt`` on disk and an
``AudioRecord`` describing the clip.

Layout: ``<work>/datasets/<dataset>/<book>/<voice>/chunk_00001.wav`` (+ ``.txt``). Every clip has
a content id (book, label text, voice recipe, speed, model fingerprint, seed), so a rerun can skip
clips whose id is already in the manifest with its wav on disk (``pending_jobs``); files are
written to a temp name and renamed. The run around the stage (manifest, store, progress) is
``pipeline.jobs.generate``.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.files import write_bytes_atomic
from pipeline.manifest import Manifest
from pipeline.records import AudioRecord, Chunk
from pipeline.stages.base import ItemFailure, Resources, Stage
from pipeline.timing import predicted_word_times
from pipeline.tts.backend import SAMPLE_RATE
from pipeline.tts.engine import SynthesisResult, TTSEngine, derive_seed
from pipeline.tts.voices import ResolvedVoice, voice_slug

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SynthesisJob:
    id: str
    dataset: str
    chunk: Chunk
    voice: str  # as named by the user
    voice_recipe: str  # canonical recipe (key into the stage's resolved voices)
    speed: float
    seed: int
    wav_path: str  # relative to the dataset root
    txt_path: str
    attempt: int = 0  # heal: which re-synthesis of the chunk (0 = generate's)
    chunk_part: str = ""  # heal: "a"/"b" for the halves of a split chunk
    heal_step: str = ""  # heal: the ladder rung


def clip_id(
    chunk: Chunk, voice_recipe: str, speed: float, fingerprint: str, seed: int, accent: str | None = None
) -> str:
    """``accent``: the voice's own English G2P, when its chunks were phonemized in it rather
    than in the book's (``g2p_by_voice``): its clips differ from one made before that existed."""
    parts = [chunk.book_id, chunk.text, voice_recipe, f"{speed:.4f}", fingerprint, str(seed)]
    if accent is not None:
        parts.append(f"g2p={accent}")
    if any(flag.fixed for flag in chunk.g2p_flags):
        # The G2P audit changed what Kokoro reads: a clip made before the fix (same text) is
        # regenerated, and --keep-caps gives back the old id.
        parts.append(chunk.phonemes)
    key = "\x1f".join(parts)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def plan_jobs(
    chunks: Sequence[Chunk],
    voices: Sequence[tuple[str, ResolvedVoice]],
    *,
    dataset: str,
    speed: float,
    seed: int,
    fingerprint: str,
    accented: Mapping[str, tuple[str, Sequence[Chunk]]] | None = None,
) -> list[SynthesisJob]:
    """One job per chunk per voice, in book order, voice by voice. ``accented``: voice spec ->
    (its English accent, ``chunks`` phonemized in it) for voices that read another accent's
    phonemes than the book was chunked in."""
    jobs = []
    for spec, resolved in voices:
        folder = voice_slug(spec)
        accent, voice_chunks = (accented or {}).get(spec, (None, chunks))
        for chunk in voice_chunks:
            job_id = clip_id(chunk, resolved.canonical, speed, fingerprint, seed, accent)
            stem = f"{chunk.book_id}/{folder}/chunk_{chunk.index:05d}"
            jobs.append(
                SynthesisJob(
                    id=job_id,
                    dataset=dataset,
                    chunk=chunk,
                    voice=spec,
                    voice_recipe=resolved.canonical,
                    speed=speed,
                    seed=derive_seed(seed, job_id),
                    wav_path=f"{stem}.wav",
                    txt_path=f"{stem}.txt",
                )
            )
    return jobs


def pending_jobs(jobs: Sequence[SynthesisJob], dataset_dir: Path, manifest: Manifest) -> list[SynthesisJob]:
    """Jobs whose clip is not finished yet (same id in the manifest and the wav on disk)."""
    done = manifest.latest_by_path()
    return [
        job
        for job in jobs
        if not (done.get(job.wav_path, {}).get("id") == job.id and (dataset_dir / job.wav_path).is_file())
    ]


def encode_wav(audio: np.ndarray) -> bytes:
    """24 kHz mono PCM16 WAV bytes (float audio clipped to [-1, 1])."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


class SynthesizeStage(Stage[SynthesisJob, AudioRecord]):
    """Synthesizes jobs with one engine and writes their files. Picklable before ``setup()``."""

    name = "synthesize"

    def __init__(
        self,
        engine: TTSEngine,
        voices: dict[str, ResolvedVoice],
        dataset_dir: Path,
        resources: Resources | None = None,
        synthesis_batch: int = 1,
    ) -> None:
        if synthesis_batch < 1:
            raise ValueError(f"synthesis_batch must be >= 1, got {synthesis_batch}")
        self.engine = engine
        self.voices = voices
        self.dataset_dir = Path(dataset_dir)
        self.resources = resources or Resources()
        self.synthesis_batch = synthesis_batch

    @property
    def batches_synthesis(self) -> bool:
        """True when chunks go through the model several at a time (torch backend only)."""
        return self.synthesis_batch > 1 and self.engine.backend.supports_batching

    def arrange(self, jobs: Sequence[SynthesisJob]) -> list[SynthesisJob]:
        """Job order for the runner: by phoneme count when batching, so each batch holds
        chunks of similar length (little padding); book order otherwise."""
        if not self.batches_synthesis:
            return list(jobs)
        return sorted(jobs, key=lambda job: (len(job.chunk.phonemes), job.wav_path))

    def setup(self) -> None:
        # Chunks arrive already phonemized, so workers need no G2P (saves ~5 s and 300 MB each).
        self.engine.setup(with_g2p=False)

    def teardown(self) -> None:
        self.engine.teardown()

    def process_batch(self, items: Sequence[SynthesisJob]) -> list[AudioRecord | ItemFailure]:
        if self.batches_synthesis and len(items) > 1:
            return self._process_batched(items)
        return [self._guarded(job, lambda job=job: self._finish(job, self._synthesize_one(job))) for job in items]

    def _process_batched(self, items: Sequence[SynthesisJob]) -> list[AudioRecord | ItemFailure]:
        """Padded forward passes over groups of similar length; a group that fails is retried one
        chunk at a time so that only the bad chunk fails."""
        from pipeline.tts.batched import plan_batches

        results: list[AudioRecord | ItemFailure | None] = [None] * len(items)
        lengths = [len(job.chunk.phonemes) for job in items]
        for group in plan_batches(lengths, max_items=self.synthesis_batch):
            jobs = [items[i] for i in group]
            try:
                synthesized = self.engine.synthesize_phonemes_batch(
                    [(job.chunk.phonemes, self.voices[job.voice_recipe], job.speed, job.seed) for job in jobs]
                )
            except Exception:
                log.exception("batched synthesis of %d chunks failed; retrying them one at a time", len(jobs))
                synthesized = [None] * len(jobs)
            for index, job, result in zip(group, jobs, synthesized, strict=True):
                if result is None:
                    results[index] = self._guarded(job, lambda job=job: self._finish(job, self._synthesize_one(job)))
                else:
                    results[index] = self._guarded(job, lambda job=job, result=result: self._finish(job, result))
        return results  # type: ignore[return-value]

    @staticmethod
    def _guarded(job: SynthesisJob, work: Callable[[], AudioRecord]) -> AudioRecord | ItemFailure:
        try:
            return work()
        except Exception as exc:  # one bad clip must not sink the batch
            log.exception("clip %s failed", job.wav_path)
            return ItemFailure(job.id, f"{job.wav_path}: {type(exc).__name__}: {exc}")

    def _synthesize_one(self, job: SynthesisJob) -> SynthesisResult:
        return self.engine.synthesize_phonemes(job.chunk.phonemes, self.voices[job.voice_recipe], job.speed, job.seed)

    def _finish(self, job: SynthesisJob, result: SynthesisResult) -> AudioRecord:
        """Check the audio, write the clip's files, and describe it."""
        if result.audio.size == 0 or not np.isfinite(result.audio).all():
            raise RuntimeError("model returned empty or non-finite audio")
        wav_bytes = encode_wav(result.audio)
        write_bytes_atomic(self.dataset_dir / job.txt_path, (job.chunk.text + "\n").encode("utf-8"))
        write_bytes_atomic(self.dataset_dir / job.wav_path, wav_bytes)
        info = self.engine.info
        duration = result.duration_s
        return AudioRecord(
            id=job.id,
            dataset=job.dataset,
            book_id=job.chunk.book_id,
            chunk_index=job.chunk.index,
            chapter_index=job.chunk.chapter_index,
            kind=job.chunk.kind,
            text=job.chunk.text,
            phonemes=job.chunk.phonemes,
            voice=job.voice,
            voice_recipe=job.voice_recipe,
            speed=job.speed,
            seed=job.seed,
            wav_path=job.wav_path,
            txt_path=job.txt_path,
            file_hash=hashlib.sha256(wav_bytes).hexdigest(),
            duration_s=round(duration, 4),
            sample_rate=SAMPLE_RATE,
            n_samples=int(result.audio.size),
            tts_engine=info.name,
            tts_model=info.model,
            tts_version=info.version,
            device=info.device,
            gen_ms=round(result.elapsed_s * 1000, 1),
            gen_rtf=round(result.elapsed_s / duration, 4) if duration else 0.0,
            g2p_flags=tuple(flag.to_json() for flag in job.chunk.g2p_flags),
            word_times=_word_times(job.chunk, result),
            word_phonemes=job.chunk.word_phonemes,
            attempt=job.attempt,
            chunk_part=job.chunk_part,
            heal_step=job.heal_step,
        )


def _word_times(chunk: Chunk, result: SynthesisResult) -> tuple[dict, ...] | None:
    """Kokoro's predicted time of every label word (None without durations or word spans)."""
    if result.durations is None or not chunk.word_spans:
        return None
    times = predicted_word_times(chunk.text.split(), chunk.phonemes, chunk.word_spans, result.durations)
    return tuple(times) if times is not None else None
