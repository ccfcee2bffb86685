"""Typed records passed between stages. Small, frozen, picklable; audio travels as a path."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

ChunkKind = Literal["heading", "text"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a book sized for one Kokoro call (~22 s of speech, < 510 phonemes)."""

    book_id: str
    index: int  # 1-based position in the book's chunk list (stable for a given text + settings)
    chapter_index: int  # 0 = front matter, 1..N = chapters
    chapter_title: str
    kind: ChunkKind
    text: str  # label: the book's own words, whitespace collapsed; the ground truth for validation
    speak_text: str  # what the G2P reads (italics markers removed, quotes/dashes normalised)
    phonemes: str  # exactly what the model receives (len <= max_phonemes)
    n_words: int
    est_seconds: float


@dataclass(frozen=True, slots=True)
class AudioRecord:
    """One synthesized clip: a ``.wav`` + ``.txt`` pair on disk and a line in ``manifest.jsonl``."""

    id: str  # content hash of book id + text + voice + speed + engine version + seed
    dataset: str
    book_id: str
    chunk_index: int
    chapter_index: int
    kind: ChunkKind
    text: str
    phonemes: str
    voice: str  # as the user named it (name, alias, blend name or recipe)
    voice_recipe: str  # canonical weighted recipe, e.g. "af_aoede(0.6)+af_nicole(0.4)"
    speed: float
    seed: int
    wav_path: str  # relative to the dataset root
    txt_path: str
    file_hash: str  # sha256 of the wav bytes
    duration_s: float
    sample_rate: int
    n_samples: int
    tts_engine: str
    tts_model: str
    tts_version: str
    device: str
    gen_ms: float
    gen_rtf: float  # generation seconds per audio second

    def to_json(self) -> dict:
        return asdict(self)
