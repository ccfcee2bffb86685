"""Typed records passed between stages. Small, frozen, picklable; audio travels as a path."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the types a validated clip carries; records stay import-light at run time
    from judges.base import Transcript
    from pipeline.tts.g2p_audit import G2PFlag
    from verdicts import FileVerdicts

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
    g2p_flags: tuple[G2PFlag, ...] = ()  # the G2P audit's findings (fixed ones say so)
    # Per label token (text.split()): its [start, end) characters in ``phonemes``; None = silent.
    word_spans: tuple[tuple[int, int] | None, ...] = ()
    word_phonemes: tuple[str, ...] = ()  # the part of ``phonemes`` each label word (text.split()) owns


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
    g2p_flags: tuple[dict, ...] = ()  # G2PFlag.to_json() per audit finding of the chunk
    # Per label word: {"index", "word", "phonemes", "start_s", "end_s"}, Kokoro's predicted
    # times (None: the backend gave no durations, or a manifest from before they were kept).
    word_times: tuple[dict, ...] | None = None
    # What Kokoro was fed for each label word (text.split()); empty in manifests written before it.
    word_phonemes: tuple[str, ...] | list[str] = ()
    # Heal (pipeline.heal): 0 = generate's clip, 1.. = re-syntheses; the half of a split chunk
    # ("a"/"b", "" = whole); the ladder rung that made it ("" for generate's clips).
    attempt: int = 0
    chunk_part: str = ""
    heal_step: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ClipSource:
    """A clip to validate: its wav (keyed by the sha256 of its bytes) and its label."""

    file_hash: str
    dataset: str
    audio_path: str  # absolute
    path: str  # as stored in the row: relative to the dataset root where there is one
    text: str | None
    problem: str | None = None  # set when the clip cannot be validated against a label
    voice_recipe: str | None = None  # our clips: the voice that spoke it (speaker similarity)
    g2p_flags: tuple[dict, ...] = ()  # our clips: the G2P audit's findings at generate time
    word_times: tuple[dict, ...] | None = None  # our clips: Kokoro's predicted word times
    word_phonemes: tuple[str, ...] | None = None  # what Kokoro was fed per label word (our manifests)

    @property
    def labeled(self) -> bool:
        """False for audio that came without any label (it gets MOS and signal metrics, no
        verdicts); a label that is there but unusable (empty, unreadable) is an error instead."""
        return self.text is not None or self.problem is not None


@dataclass(frozen=True, slots=True)
class ClipResult:
    """One validated clip: its transcripts, verdicts, signal metrics and MOS (the store turns it
    into rows: ``pipeline.store.rows``)."""

    clip: ClipSource
    primary: Transcript | None
    secondary: Transcript | None
    escalated: bool
    escalation_reason: str | None
    verdicts: FileVerdicts | None
    error: str | None
    duration_s: float | None = None  # from the signal metrics (set by the quality step)
    signal: dict | None = None  # the 11 signal metrics (every clip)
    mos: dict | None = None  # mos column group (clips the --mos-mode selected)
    mos_rejected: bool = False  # composite MOS below the keep threshold
    speaker_similarity: float | None = None  # cosine to the voice's reference embedding
    checks: dict | None = None  # the clip checks' measurements (pipeline.clip_checks)
    # Reasons beyond the words and MOS (the clip checks: pipeline.reasons); pipeline.keep folds them in.
    reasons: tuple[str, ...] = ()
    # What produced each column group (pipeline.fingerprints); None: not recorded (library callers).
    fingerprints: dict | None = None
