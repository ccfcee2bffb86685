"""The speaker stage of validate: each of our clips' speaker embedding against its voice's reference.

The reference of a voice recipe is ``REFERENCE_TEXT`` synthesized once with the project's engine
(the configured backend and model) and embedded by the same encoder; the embedding (and the wav,
for listening) is cached under ``<work>/speaker_refs/``, keyed by recipe, model fingerprint,
text and encoder version, so a rerun or another dataset with the same voice reuses it. Clips
without a voice recipe (foreign datasets) get no similarity.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judges.base import AudioItem
from judges.speaker import SPEAKER_SAMPLE_RATE, ResemblyzerJudge, similarity
from pipeline.files import atomic_path
from pipeline.records import ClipSource
from pipeline.settings import Settings
from pipeline.stages.base import ItemFailure, Resources, Stage

log = logging.getLogger(__name__)

# Harvard sentences (IEEE 1969): phonetically balanced, ~9 s of speech.
REFERENCE_TEXT = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
    "It's easy to tell the depth of a well. These days a chicken leg is a rare dish."
)


class VoiceReferences:
    """Reference embeddings per voice recipe, synthesized on first need and cached on disk."""

    def __init__(self, settings: Settings, cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.cache_dir = Path(cache_dir or settings.work_dir / "speaker_refs")
        self._engine = None
        self._fingerprint: str | None = None
        self._memory: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_engine": None, "_memory": {}}

    def _key(self, recipe: str, judge: ResemblyzerJudge) -> str:
        if self._fingerprint is None:
            from pipeline.tts.engine import engine_fingerprint

            self._fingerprint = engine_fingerprint(self.settings)
        parts = [recipe, self._fingerprint, f"{self.settings.speed:.4f}", REFERENCE_TEXT, judge.version]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]

    def reference_audio(self, recipe: str) -> np.ndarray:
        """``REFERENCE_TEXT`` spoken by ``recipe`` (24 kHz float32)."""
        if self._engine is None:
            from pipeline.tts.engine import build_engine

            self._engine = build_engine(self.settings)
            self._engine.setup()
        return self._engine.synthesize_text(REFERENCE_TEXT, recipe, self.settings.speed, self.settings.seed).audio

    def embedding(self, recipe: str, judge: ResemblyzerJudge) -> np.ndarray:
        key = self._key(recipe, judge)
        if key in self._memory:
            return self._memory[key]
        path = self.cache_dir / f"{key}.npy"
        if path.is_file():
            vector = np.load(path)
        else:
            import soundfile as sf
            import soxr

            from pipeline.tts.backend import SAMPLE_RATE

            audio = self.reference_audio(recipe)
            vector = judge.embed(soxr.resample(audio, SAMPLE_RATE, SPEAKER_SAMPLE_RATE).astype(np.float32))
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.cache_dir / f"{key}.wav") as tmp:
                sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, vector)
            log.info("speaker reference for %s cached as %s", recipe, path)
        self._memory[key] = vector
        return vector

    def teardown(self) -> None:
        if self._engine is not None:
            self._engine.teardown()
            self._engine = None


@dataclass(frozen=True, slots=True)
class SpeakerItem:
    key: str  # file_hash
    audio_path: str
    voice_recipe: str


def speaker_items(clips: Sequence[ClipSource]) -> list[SpeakerItem]:
    """The clips that have a voice to compare with."""
    return [SpeakerItem(c.file_hash, c.audio_path, c.voice_recipe) for c in clips if c.voice_recipe and not c.problem]


class SpeakerStage(Stage[SpeakerItem, float | None]):
    """Cosine similarity of each clip's speaker embedding to its voice's reference (None: the
    clip could not be embedded)."""

    name = "speaker"

    def __init__(self, judge: ResemblyzerJudge, references: VoiceReferences, resources: Resources | None = None):
        self.judge = judge
        self.references = references
        self.resources = resources or Resources(cpus=1, batch_size=8)

    def setup(self) -> None:
        self.judge.setup()

    def teardown(self) -> None:
        self.judge.teardown()
        self.references.teardown()

    def process_batch(self, items: Sequence[SpeakerItem]) -> list[float | None | ItemFailure]:
        embeddings = self.judge.judge_batch([AudioItem(i.key, i.audio_path) for i in items])
        out: list[float | None | ItemFailure] = []
        for item, embedded in zip(items, embeddings, strict=True):
            if embedded.vector is None:
                log.warning("no speaker embedding for %s: %s", item.audio_path, embedded.error)
                out.append(None)
                continue
            try:
                reference = self.references.embedding(item.voice_recipe, self.judge)
            except Exception as exc:  # a voice that cannot be synthesized: no similarity, say why
                out.append(ItemFailure(item.key, f"speaker reference for {item.voice_recipe}: {exc}"))
                continue
            out.append(round(similarity(embedded.vector, reference), 4))
        return out
