"""Build a fault-injection set: real passages of public-domain books (the project's own chunker),
clean clips and faulty clips whose audio is synthesized from an edited text (or wrong phonemes)
while the label keeps the book's words, written as a normal dataset dir (wav + txt +
manifest.jsonl) that ``pipeline validate`` reads, plus ``faults.json`` describing every clip.

Deterministic for a seed: passages, faults and voices come from ``random.Random`` seeded per clip;
the int8 ONNX model is deterministic. Audio is cached: every clip has a content id (label, fed
phonemes, voice, model), so a rebuild synthesizes only clips that are new or changed.

The manifest's ``phonemes`` is what ``generate`` would have stored: the label's phonemes for
text faults (Kokoro was asked to say the label and said something else) and the faulty phonemes
for G2P faults (the G2P got the word wrong, so the wrong phonemes are what was asked for).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from faultset.faults import (
    FAULT_KINDS,
    G2P_FAULTS,
    INJECTORS,
    Fault,
    FaultKind,
    parse,
    with_overrides,
)
from pipeline.chunking import chunk_book, phoneme_spans, speakable, word_phonemes
from pipeline.ingest import read_book
from pipeline.manifest import Manifest
from pipeline.records import AudioRecord, Chunk
from pipeline.settings import PHONEMES_PER_SECOND, Settings
from pipeline.tts.g2p import G2P, KOKORO_MAX_PHONEMES
from pipeline.tts.g2p_audit import G2PAuditor, G2PFlag

SPEC_FILE = "faults.json"
MIN_SECONDS, MAX_SECONDS = 5.0, 25.0
# Passages sized so that every fault keeps the clip within 5-25 s (estimated from phonemes).
PASSAGE_SECONDS = (6.5, 18.0)
DEFAULT_VOICES = ("af_heart", "am_michael", "bf_emma", "bm_george")
_STRESS = re.compile(r"[ˈˌ]")


@dataclass(frozen=True, slots=True)
class SetConfig:
    books: tuple[Path, ...]
    seed: int = 0
    per_fault: int = 20
    clean: int = 100
    voices: tuple[str, ...] = DEFAULT_VOICES
    target_seconds: float = 10.0  # the chunker's target for passages
    kinds: tuple[FaultKind, ...] = FAULT_KINDS

    @property
    def name(self) -> str:
        """Dataset name: the seed plus a short hash of everything that shapes the set."""
        key = json.dumps(
            [
                [p.name for p in self.books],
                self.seed,
                self.per_fault,
                self.clean,
                self.voices,
                self.target_seconds,
                list(self.kinds),
            ]  # fmt: skip
        )
        return f"detection-s{self.seed}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


@dataclass(frozen=True, slots=True)
class Passage:
    book_id: str
    chunk_index: int
    chapter_index: int
    chapter_title: str
    label: str  # the book's words (Chunk.text)


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """One clip of the set, as ``faults.json`` stores it."""

    clip: str  # e.g. "substitution_007"
    kind: str
    book_id: str
    chunk_index: int
    voice: str
    lang: str  # misaki English the clip was phonemized with: a = US, b = British
    label: str  # the book's words: the .txt and the manifest text
    edited: str  # what Kokoro was asked to say (misaki markup for G2P faults)
    indices: tuple[int, ...]  # label word indices the fault touches (label.split())
    targets: tuple[str, ...]  # the label words at those indices
    insert_position: int | None
    detail: str
    stored_phonemes: str  # the manifest's phonemes (what generate would have stored)
    synth_phonemes: str  # what Kokoro actually received
    wav_path: str = ""
    id: str = ""
    # What generate would have stored with the clip: per label word the part of stored_phonemes it
    # owns, the G2P audit's findings, and (where Kokoro was fed the stored phonemes: clean clips and
    # G2P faults) each label word's span of them, from which the synthesize stage derives Kokoro's
    # predicted word times. Text faults get no spans: the durations Kokoro predicted are those of
    # the edited text, not of the label.
    word_phonemes: tuple[str, ...] = ()
    g2p_flags: tuple[dict, ...] = ()
    word_spans: tuple[tuple[int, int] | None, ...] = ()

    @classmethod
    def from_json(cls, row: dict) -> ClipSpec:
        return cls(
            **{
                **row,
                "indices": tuple(row["indices"]),
                "targets": tuple(row["targets"]),
                "word_phonemes": tuple(row.get("word_phonemes", ())),
                "g2p_flags": tuple(row.get("g2p_flags", ())),
                "word_spans": tuple(None if s is None else (s[0], s[1]) for s in row.get("word_spans", ())),
            }
        )


class MisakiPhonetics:
    """Pronunciations from misaki's gold lexicon (the dictionary Kokoro's G2P reads first)."""

    def __init__(self, british: bool) -> None:
        from misaki.en import Lexicon

        self.lexicon = Lexicon(british)

    def _entry(self, word: str):
        return self.lexicon.golds.get(word)

    def readings(self, word: str) -> tuple[str, ...]:
        entry = self._entry(word)
        if isinstance(entry, str):
            return (entry,)
        if isinstance(entry, dict):
            return tuple(dict.fromkeys(v for v in entry.values() if isinstance(v, str)))
        return ()

    def heteronym_readings(self, word: str) -> tuple[str, ...]:
        entry = self._entry(word)
        if not isinstance(entry, dict):
            return ()
        by_sound: dict[str, str] = {}
        for value in entry.values():
            if isinstance(value, str):
                by_sound.setdefault(_STRESS.sub("", value), value)
        return tuple(by_sound.values()) if len(by_sound) > 1 else ()

    def spelled(self, word: str) -> str | None:
        phonemes, _ = self.lexicon.get_NNP(word)
        return phonemes


class Phonemizers:
    """The project's G2P, its audit (as ``generate`` runs it) and the matching lexicon per misaki
    language, loaded on first use."""

    def __init__(self) -> None:
        self._g2p: dict[str, G2P] = {}
        self._auditors: dict[str, G2PAuditor] = {}
        self._phonetics: dict[str, MisakiPhonetics] = {}

    def auditor(self, lang: str) -> G2PAuditor:
        if lang not in self._auditors:
            self._auditors[lang] = G2PAuditor(self.g2p(lang))
            self._auditors[lang].setup()
        return self._auditors[lang]

    def g2p(self, lang: str) -> G2P:
        if lang not in self._g2p:
            self._g2p[lang] = G2P(lang)
            self._g2p[lang].setup()
        return self._g2p[lang]

    def phonetics(self, lang: str) -> MisakiPhonetics:
        if lang not in self._phonetics:
            self._phonetics[lang] = MisakiPhonetics(british=lang == "b")
        return self._phonetics[lang]


def lang_for(voice: str) -> str:
    """British voices (bf_*, bm_*) are phonemized with misaki's British English, as a user
    generating with them sets ``PIPELINE_LANG_CODE=b``."""
    return "b" if voice.startswith("b") else "a"


def speak_text(tokens: Sequence[str], overrides: Sequence[tuple[int, str]] = ()) -> str:
    """What the G2P reads for ``tokens`` (``pipeline.chunking.speakable`` token by token), with
    misaki's ``[word](/phonemes/)`` markup on the overridden words."""
    spoken = [speakable(t) for t in tokens]
    return " ".join(t for t in with_overrides(spoken, overrides) if t)


def load_passages(books: Sequence[Path], g2p: G2P, target_seconds: float) -> dict[str, list[Passage]]:
    """Text chunks of each book (headings dropped) whose speech fits ``PASSAGE_SECONDS``."""
    low, high = (s * PHONEMES_PER_SECOND for s in PASSAGE_SECONDS)
    out: dict[str, list[Passage]] = {}
    for path in books:
        book = read_book(path)
        chunks = chunk_book(book, g2p, target_seconds=target_seconds, headings="drop")
        out[book.book_id] = [
            Passage(c.book_id, c.index, c.chapter_index, c.chapter_title, c.text)
            for c in chunks
            if c.kind == "text" and low <= len(c.phonemes) <= high and c.n_words >= 10
        ]
    return out


def vocabulary(passages: Iterable[Passage], phonetics: MisakiPhonetics) -> list[str]:
    """Lower-case dictionary words of the books (4-10 letters), sorted: substitutes and insertions."""
    words = set()
    for passage in passages:
        for token in passage.label.split():
            parsed = parse(token)
            if parsed and parsed.core.islower() and 4 <= len(parsed.core) <= 10 and phonetics.readings(parsed.core):
                words.add(parsed.core)
    return sorted(words)


def word_in_context(tokens: Sequence[str], g2p: G2P, label_index: int) -> str | None:
    """The phonemes the G2P gave label word ``label_index`` when reading the whole passage;
    None when the word occurs more than once (the reading could belong to either)."""
    core = parse(tokens[label_index])
    if core is None:
        return None
    same = [i for i, t in enumerate(tokens) if (p := parse(t)) is not None and p.core == core.core]
    if len(same) != 1:
        return None
    readings = [w.phonemes for w in g2p.phonemize(speak_text(tokens)).words if w.text == core.core]
    return readings[0] if len(readings) == 1 else None


def _inject(
    kind: FaultKind, tokens: list[str], rng: random.Random, lang: str, phon: Phonemizers, vocab
) -> Fault | None:
    phonetics = phon.phonetics(lang)
    if kind == FaultKind.heteronym:
        g2p = phon.g2p(lang)
        return INJECTORS[kind](tokens, rng, phonetics, vocab, context=lambda i: word_in_context(tokens, g2p, i))
    return INJECTORS[kind](tokens, rng, phonetics, vocab)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the G2P (audited and fixed as ``generate`` does) made of a token list."""

    phonemes: str
    word_phonemes: tuple[str, ...]
    word_spans: tuple[tuple[int, int] | None, ...]
    g2p_flags: tuple[dict, ...]


def read_tokens(tokens: Sequence[str], auditor: G2PAuditor, overrides: Sequence[tuple[int, str]] = ()) -> Reading:
    """``tokens`` read as ``generate`` reads a chunk: speakable text (with misaki's phoneme markup
    on the overridden words), audited and fixed; each token's phonemes and span located through the
    speak tokens (a fix changes only letter case, so their lengths hold)."""
    speak = with_overrides([speakable(t) for t in tokens], overrides)
    _, result, flags = auditor.audit_and_fix(" ".join(t for t in speak if t))
    return Reading(
        result.phonemes,
        word_phonemes(tokens, result, speak=speak),
        tuple(phoneme_spans(tokens, result, speak=speak)),
        tuple(f.to_json() for f in flags),
    )


def make_spec(
    clip: str, kind: FaultKind, passage: Passage, voice: str, fault: Fault | None, phon: Phonemizers
) -> ClipSpec | None:
    """The clip's texts and phonemes; None when the result would not fit Kokoro or 5-25 s."""
    lang = lang_for(voice)
    auditor = phon.auditor(lang)
    tokens = passage.label.split()
    label = read_tokens(tokens, auditor)
    if fault is None:
        edited, fed = speak_text(tokens), label
    else:
        edited = speak_text(fault.edited, fault.overrides)
        fed = read_tokens(fault.edited, auditor, fault.overrides)
        if fed.phonemes == label.phonemes:  # the edit changed nothing Kokoro hears
            return None
    synth = fed.phonemes
    seconds = len(synth) / PHONEMES_PER_SECOND
    if len(synth) > KOKORO_MAX_PHONEMES or not MIN_SECONDS + 0.5 <= seconds <= MAX_SECONDS - 2:
        return None
    # G2P faults and clean clips: the label's tokens were read (wrongly, for a G2P fault) and that
    # reading is what Kokoro got. Text faults: generate would have stored the label's reading.
    stored = fed if kind in G2P_FAULTS or fault is None else label
    return ClipSpec(
        clip=clip,
        kind=kind.value,
        book_id=passage.book_id,
        chunk_index=passage.chunk_index,
        voice=voice,
        lang=lang,
        label=passage.label,
        edited=edited,
        indices=fault.indices if fault else (),
        targets=tuple(tokens[i] for i in fault.indices) if fault else (),
        insert_position=fault.insert_position if fault else None,
        detail=fault.detail if fault else "",
        stored_phonemes=stored.phonemes,
        synth_phonemes=synth,
        word_phonemes=stored.word_phonemes,
        g2p_flags=stored.g2p_flags,
        word_spans=stored.word_spans if stored is fed else (),
    )


def plan_set(config: SetConfig, phon: Phonemizers, passages: dict[str, list[Passage]]) -> list[ClipSpec]:
    """Every clip of the set: G2P faults first (they need passages with particular words), then
    the text faults, then the clean clips; books taken in turn, each passage used once; voices
    in turn within each kind (from a seeded offset)."""
    rng = random.Random(config.seed)
    queues = {book: rng.sample(items, len(items)) for book, items in sorted(passages.items())}
    vocab = {lang: vocabulary((p for ps in passages.values() for p in ps), phon.phonetics(lang)) for lang in "ab"}
    order = [k for k in config.kinds if k in G2P_FAULTS] + [k for k in config.kinds if k not in G2P_FAULTS]
    wanted = [(kind, config.per_fault) for kind in order] + [(FaultKind.clean, config.clean)]
    books = sorted(queues)
    specs: list[ClipSpec] = []
    for kind, count in wanted:
        offset = rng.randrange(len(config.voices))
        for n in range(count):
            voice = config.voices[(n + offset) % len(config.voices)]
            spec = _next_clip(kind, n, voice, books, queues, config.seed, phon, vocab)
            if spec is None:
                raise ValueError(
                    f"the books ran out of passages for {kind} clip {n + 1} of {count}: "
                    "add a book or ask for fewer clips"
                )
            specs.append(spec)
    return specs


def _next_clip(kind, n, voice, books, queues, seed, phon, vocab) -> ClipSpec | None:
    lang = lang_for(voice)
    clip = f"{kind.value}_{n:03d}"
    for turn in range(len(books)):
        book = books[(n + turn) % len(books)]
        queue = queues[book]
        for position, passage in enumerate(queue):
            rng = random.Random(f"{seed}:{clip}:{passage.book_id}:{passage.chunk_index}")
            fault = None
            if kind != FaultKind.clean:
                fault = _inject(kind, passage.label.split(), rng, lang, phon, vocab[lang])
                if fault is None:
                    continue
            spec = make_spec(clip, kind, passage, voice, fault, phon)
            if spec is not None:
                del queue[position]
                return spec
    return None


# --------------------------------------------------------------------------------------------
# synthesis


def clip_id(spec: ClipSpec, voice_recipe: str, fingerprint: str) -> str:
    key = "\x1f".join([spec.book_id, spec.label, spec.synth_phonemes, spec.stored_phonemes, voice_recipe, fingerprint])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


class StoredPhonemesManifest(Manifest):
    """The dataset's manifest, with each clip's ``phonemes`` set to what ``generate`` would have
    stored (the synthesize stage records what it fed Kokoro)."""

    def __init__(self, path: Path, stored: dict[str, str]) -> None:
        super().__init__(path)
        self.stored = stored

    def append(self, records: Iterable[AudioRecord]) -> None:
        super().append(replace(r, phonemes=self.stored[r.id]) for r in records)


@dataclass
class BuildResult:
    dataset_dir: Path
    specs: list[ClipSpec]
    synthesized: int = 0
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def synthesize_set(specs: list[ClipSpec], dataset_dir: Path, settings: Settings, workers: int) -> BuildResult:
    """Synthesize every clip not already in the dataset (content ids) with the project's engine
    and synthesize stage; write ``faults.json`` with the clips' ids and paths."""
    from pipeline.jobs.generate import run_generation
    from pipeline.runner import LocalRunner
    from pipeline.stages.base import Resources
    from pipeline.stages.synthesize import SynthesisJob, SynthesizeStage
    from pipeline.tts.engine import build_engine, derive_seed, engine_fingerprint
    from pipeline.tts.voices import voice_slug

    engine = build_engine(settings)
    fingerprint = engine_fingerprint(settings)
    resolved = {voice: engine.resolve_voice(voice) for voice in sorted({s.voice for s in specs})}
    jobs, stored, done = [], {}, []
    for number, spec in enumerate(specs, 1):
        recipe = resolved[spec.voice].canonical
        job_id = clip_id(spec, recipe, fingerprint)
        stem = f"{spec.book_id}/{voice_slug(spec.voice)}/{spec.clip}"
        spec = replace(spec, id=job_id, wav_path=f"{stem}.wav")
        done.append(spec)
        stored[job_id] = spec.stored_phonemes
        chunk = Chunk(
            book_id=spec.book_id,
            index=number,
            chapter_index=0,
            chapter_title=spec.kind,
            kind="text",
            text=spec.label,
            speak_text=spec.edited,
            phonemes=spec.synth_phonemes,
            n_words=len(spec.label.split()),
            est_seconds=round(len(spec.synth_phonemes) / PHONEMES_PER_SECOND, 2),
            g2p_flags=tuple(G2PFlag(**flag) for flag in spec.g2p_flags),
            word_spans=spec.word_spans,
            word_phonemes=spec.word_phonemes,
        )
        jobs.append(
            SynthesisJob(
                job_id,
                dataset_dir.name,
                chunk,
                spec.voice,
                recipe,
                1.0,
                derive_seed(settings.seed, job_id),
                f"{stem}.wav",
                f"{stem}.txt",
            )  # fmt: skip
        )
    dataset_dir.mkdir(parents=True, exist_ok=True)
    write_specs(dataset_dir, done)
    stage = SynthesizeStage(engine, {r.canonical: r for r in resolved.values()}, dataset_dir, Resources(batch_size=2))
    manifest = StoredPhonemesManifest(Manifest.for_dataset(dataset_dir).path, stored)
    report = run_generation(stage, jobs, manifest, runner=LocalRunner(workers), batch_size=2)
    return BuildResult(dataset_dir, done, len(report.written), [f.error for f in report.failures], report.wall_s)


def write_specs(dataset_dir: Path, specs: Sequence[ClipSpec]) -> Path:
    path = dataset_dir / SPEC_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(s) for s in specs], ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def read_specs(dataset_dir: Path) -> list[ClipSpec]:
    path = dataset_dir / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no fault set here (build it first)")
    return [ClipSpec.from_json(row) for row in json.loads(path.read_text(encoding="utf-8"))]


__all__ = [
    "BuildResult",
    "ClipSpec",
    "MisakiPhonetics",
    "Passage",
    "Phonemizers",
    "SetConfig",
    "load_passages",
    "plan_set",
    "read_specs",
    "synthesize_set",
]
