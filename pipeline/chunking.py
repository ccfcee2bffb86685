"""Cut a book into chunks sized for one Kokoro call, without losing or splitting a word.

Order of preference for a chunk boundary: a paragraph end near the target, a sentence end,
clause punctuation (``, ; : — -- ( )``) inside a sentence too long for one call, and only
then a plain space. Boundaries always fall on whitespace between the book's own tokens, so
the chunks' label texts, joined by spaces, give back the book's words exactly.

Sizes: each sentence is phonemized once with the real G2P to plan the chunks; every chunk is
then phonemized once more as a whole, and that string (the exact input Kokoro receives) is
what ``Chunk.phonemes`` holds and what the hard ``max_phonemes`` cap is checked against. A
chunk that comes out over the cap (context can change the G2P's output slightly) gives its
last sentence back to the next chunk, or is split further.

Example::

    g2p = G2P(); g2p.setup()
    chunks = chunk_book(read_book(Path("alice.txt")), g2p)
    print(summarize(chunks))
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline.ingest import Book, Chapter
from pipeline.records import Chunk
from pipeline.settings import PHONEMES_PER_SECOND as DEFAULT_PHONEMES_PER_SECOND
from pipeline.tts.g2p import G2P, KOKORO_MAX_PHONEMES, Phonemized
from pipeline.tts.g2p_audit import G2PAuditor, G2PFlag
from verdicts.numbers import roman_value

log = logging.getLogger(__name__)

# A chunk may run past the target by this factor when that lands closer to the target than
# stopping short would; a paragraph end closes a chunk once it has this share of the target.
_OVERSHOOT = 1.15
_PARAGRAPH_END_SHARE = 0.7
# Pieces cut from an over-long run of words aim below the cap, so context effects never matter.
_PIECE_CAP_SHARE = 0.85

# --------------------------------------------------------------------------------------------
# speakable text

_EDGE_UNDERSCORES = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")  # `_italics_` markers, not snake_case
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "‛": "'", "ʼ": "'", "′": "'"})
_OTHER = str.maketrans(
    {
        "„": "“",
        "‟": "“",
        "«": "“",
        "»": "”",
        "[": "(",
        "]": ")",
        "{": "(",
        "}": ")",
        "―": "—",
        "\u2011": "-",  # non-breaking hyphen
        "\u00ad": None,  # soft hyphen
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
    }
)
_EN_DASH_IN_NUMBER = re.compile(r"(?<=\d)–(?=\d)")
_HEADING_KEYWORDS = frozenset({"chapter", "book", "part", "chap."})


def _speak_token(token: str) -> str:
    """One whitespace-separated label token as the G2P should read it ("" = nothing to read).

    Why each rule: misaki reads ``_`` as an unspoken word; with a curly apostrophe it drops
    "n’t" before "!" ("won’t!" -> "wo"); "--" and a lone "-" are silent where "—" is a pause;
    "..." is three full stops where "…" is one pause; Kokoro's vocabulary has no brackets.
    """
    t = _EDGE_UNDERSCORES.sub("", token).translate(_APOSTROPHES).translate(_OTHER)
    t = _EN_DASH_IN_NUMBER.sub("-", t).replace("–", "—")
    if t == "-" or "--" in t:
        t = re.sub(r"-{2,}", "—", t) if t != "-" else "—"
    if "..." in t:
        t = re.sub(r"\.{3,}", "…", t)
    return t


def _heading_numbers(tokens: list[str]) -> list[str]:
    """Heading numerals as digits ("CHAPTER IV." -> "CHAPTER 4.", a bare section numeral "III." ->
    "3."): misaki spells "IV" and "III" as letters."""
    out = list(tokens)
    keywords = {k.strip(".") for k in _HEADING_KEYWORDS}
    for i in range(len(out)):
        # after CHAPTER, BOOK ...; or the whole heading
        numbered = out[i - 1].lower().strip(".:") in keywords if i > 0 else len(out) == 1
        m = re.match(r"^([IVXLCDM]+)([.:,]?)$", out[i]) if numbered else None
        if m and (value := roman_value(m.group(1))):
            out[i] = f"{value}{m.group(2)}"
    return out


def _speak_tokens(tokens: Sequence[str], heading: bool) -> list[str]:
    """What the G2P reads for each label token ("" = nothing)."""
    return [_speak_token(t) for t in (_heading_numbers(list(tokens)) if heading else tokens)]


def token_owners(
    tokens: Sequence[str], result: Phonemized, *, heading: bool = False, speak: Sequence[str] | None = None
) -> list[int]:
    """For each misaki token of ``result`` (the phonemization of the tokens' speak text), the
    label token it belongs to: misaki's tokens are located in the speak text and charged to the
    label token they start in. The one alignment walk behind the chunker's cost estimate,
    ``phoneme_spans`` and ``word_phonemes``. ``speak``: what the G2P read for each label token
    when it is not the chunker's own speak text (e.g. with misaki's ``[word](/phonemes/)``
    overrides; "" = not read)."""
    starts: list[int] = []  # where each token that is read starts in the speak text
    readers: list[int] = []  # ... and which label token it is
    pos = 0
    for i, speak_token in enumerate(_speak_tokens(tokens, heading) if speak is None else speak):
        if speak_token:
            starts.append(pos)
            readers.append(i)
            pos += len(speak_token) + 1
    owners: list[int] = []
    cursor = 0
    owner = readers[0] if readers else 0
    for word in result.words:
        at = result.text.find(word.text, cursor) if word.text else -1
        if at >= 0:
            cursor = at + len(word.text)
            owner = readers[max(0, bisect.bisect_right(starts, at) - 1)] if readers else 0
        owners.append(owner)
    return owners


def phoneme_spans(
    tokens: Sequence[str], result: Phonemized, *, heading: bool = False, speak: Sequence[str] | None = None
) -> list[tuple[int, int] | None]:
    """Per label token, the ``[start, end)`` characters of ``result.phonemes`` that misaki made of
    it (``result`` = the phonemization of the tokens' speak text; None = a token that got no
    phonemes), by ``token_owners``."""
    raw = "".join(w.phonemes + (" " if w.whitespace else "") for w in result.words)
    lead = len(raw) - len(raw.lstrip())
    spans: list[list[int] | None] = [None] * len(tokens)
    offset = 0
    for word, owner in zip(result.words, token_owners(tokens, result, heading=heading, speak=speak), strict=True):
        begin, end = offset - lead, offset - lead + len(word.phonemes)
        offset += len(word.phonemes) + (1 if word.whitespace else 0)
        if word.phonemes.strip():
            span = spans[owner]
            spans[owner] = [begin, end] if span is None else [span[0], end]
    return [None if s is None else (max(0, s[0]), s[1]) for s in spans]


def speakable(label: str, *, heading: bool = False) -> str:
    """What the G2P reads for ``label``: the same words, with italics markers removed and
    quotes, apostrophes, dashes and ellipses in the forms misaki handles. Token by token, so
    ``speakable(a + " " + b) == speakable(a) + " " + speakable(b)`` (when neither is empty).

    Example: ``speakable("so _very_ remarkable--it won’t!") == "so very remarkable—it won't!"``
    """
    tokens = label.split()
    if heading:
        tokens = _heading_numbers(tokens)
    return " ".join(t for t in map(_speak_token, tokens) if t)


# --------------------------------------------------------------------------------------------
# sentences

_ABBREVIATIONS = frozenset(
    """mr mrs ms messrs mme mlle dr drs st ste jr sr prof rev revd hon capt col gen lt sgt cpl maj
    adm gov sen rep esq ft mt no nos vol vols ch chap p pp fig figs vs cf ca approx dept univ co
    corp inc ltd bros viz al e.g i.e a.m p.m""".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’'»)\]_*]*$")
_OPENERS = "“‘\"'([_«"
_CLOSERS = "”’\"')]_*»"
_CLAUSE_END = re.compile(r"(?:[,;:)\]—]|--)[\"”’'»_*]*$")


def _ends_sentence(token: str, next_token: str | None) -> bool:
    if not _SENTENCE_END.search(token):
        return False
    core = token.lstrip(_OPENERS).rstrip(_CLOSERS)
    if core.endswith(".") and not core.endswith(".."):
        word = core[:-1]
        if word.lower() in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha() and word != "I":  # an initial: "J. R. R. Tolkien"
            return False
        if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # "U.S.A."
            return False
    if next_token is None:
        return True
    start = next_token.lstrip(_OPENERS)
    return bool(start) and (start[0].isupper() or start[0].isdigit())


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph, cut only at whitespace (so ``" ".join`` gives it back)."""
    tokens = paragraph.split()
    sentences: list[str] = []
    start = 0
    for i, token in enumerate(tokens):
        if _ends_sentence(token, tokens[i + 1] if i + 1 < len(tokens) else None):
            sentences.append(" ".join(tokens[start : i + 1]))
            start = i + 1
    if start < len(tokens):
        sentences.append(" ".join(tokens[start:]))
    return sentences


def _has_word(text: str) -> bool:
    return any(c.isalnum() for c in text)


# --------------------------------------------------------------------------------------------
# planning units


@dataclass(slots=True)
class _Unit:
    """Consecutive label tokens that are never split again unless a chunk overflows."""

    tokens: list[str]
    phonemes: int  # estimated phoneme count of speakable(" ".join(tokens))
    para_end: bool = False
    heading: bool = False
    token_costs: list[int] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def n_words(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True, slots=True)
class _Plan:
    max_phonemes: int
    phonemes_per_second: float
    target_seconds: float
    target_words: int | None

    def size(self, phonemes: int, words: int) -> float:
        return float(words) if self.target_words else phonemes / self.phonemes_per_second

    @property
    def target(self) -> float:
        return float(self.target_words) if self.target_words else self.target_seconds


@dataclass(frozen=True, slots=True)
class _Planned:
    tokens: list[str]
    speak: str
    result: Phonemized
    flags: tuple[G2PFlag, ...]
    heading: bool


def word_phonemes(
    tokens: Sequence[str], result: Phonemized, *, heading: bool = False, speak: Sequence[str] | None = None
) -> tuple[str, ...]:
    """What Kokoro is fed for each label token (whitespace-split label words): the phonemes of
    the misaki tokens it owns, joined with the spaces Kokoro receives between them."""
    parts: list[list[str]] = [[] for _ in tokens]
    for word, owner in zip(result.words, token_owners(tokens, result, heading=heading, speak=speak), strict=True):
        if tokens:
            parts[owner].append(word.phonemes + (" " if word.whitespace else ""))
    return tuple("".join(p).strip() for p in parts)


class _Chunker:
    def __init__(self, g2p: G2P, plan: _Plan, auditor: G2PAuditor | None = None) -> None:
        self.g2p = g2p
        self.plan = plan
        self.auditor = auditor
        self._cache: dict[str, Phonemized] = {}
        self.n_g2p_calls = 0

    # -- G2P -------------------------------------------------------------------------------

    def new_chapter(self) -> None:
        # Chunks never cross chapters, so nothing cached for one is reused by the next.
        self._cache.clear()

    def phonemize(self, speak: str) -> Phonemized:
        result = self._cache.get(speak)
        if result is None:
            result = self.g2p.phonemize(speak)
            self.n_g2p_calls += 1
            self._cache[speak] = result
        return result

    def token_costs(self, tokens: Sequence[str], result: Phonemized) -> list[int]:
        """Phonemes per label token, from one phonemization of the whole span (see
        ``token_owners``)."""
        costs = [0] * len(tokens)
        for word, owner in zip(result.words, token_owners(tokens, result), strict=True):
            costs[owner] += len(word.phonemes) + (1 if word.whitespace else 0)
        return costs

    # -- units -----------------------------------------------------------------------------

    def units_for_paragraphs(self, paragraphs: Iterable[str]) -> list[_Unit]:
        sentences: list[tuple[list[str], bool]] = []  # (tokens, ends a paragraph)
        for paragraph in paragraphs:
            for j, sentence in enumerate(parts := split_sentences(paragraph)):
                tokens = sentence.split()
                last = j == len(parts) - 1
                # Punctuation-only pieces ("…", "—") ride with a neighbour: never a chunk alone.
                if sentences and not _has_word(sentence):
                    sentences[-1] = (sentences[-1][0] + tokens, sentences[-1][1] or last)
                elif sentences and not _has_word(" ".join(sentences[-1][0])):
                    sentences[-1] = (sentences[-1][0] + tokens, last)
                else:
                    sentences.append((tokens, last))
        units: list[_Unit] = []
        for tokens, para_end in sentences:
            result = self.phonemize(speakable(" ".join(tokens)))
            unit = _Unit(tokens, len(result.phonemes), para_end)
            if unit.phonemes <= self.plan.max_phonemes:
                units.append(unit)
            else:
                unit.token_costs = self.token_costs(tokens, result)
                units.extend(self.split_long(unit))
        return units

    def split_long(self, unit: _Unit) -> list[_Unit]:
        """A sentence over the cap: its clauses; a clause still over the cap: runs of words of
        about the target size."""
        costs = unit.token_costs
        assert costs is not None
        tokens = unit.tokens
        cuts = [0]
        for i in range(1, len(tokens)):
            prev, cur = tokens[i - 1], tokens[i]
            if _CLAUSE_END.search(prev) or prev in ("-", "—") or cur[0] in "([—":
                cuts.append(i)
        cuts.append(len(tokens))
        out: list[_Unit] = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            if a == b:
                continue
            clause = _Unit(tokens[a:b], sum(costs[a:b]), token_costs=costs[a:b])
            if clause.phonemes <= self.plan.max_phonemes:
                out.append(clause)
            else:
                out.extend(self.split_words(clause))
        # Clauses too small to stand alone are packed back together by the chunk packer.
        out[-1].para_end = unit.para_end
        return out

    def split_words(self, unit: _Unit, piece_cap: int | None = None) -> list[_Unit]:
        """Cut at spaces into pieces of about equal size, each at most ``piece_cap`` phonemes
        (default: a safety share of the cap) and at most the target size."""
        costs = unit.token_costs
        assert costs is not None
        piece_cap = piece_cap or int(self.plan.max_phonemes * _PIECE_CAP_SHARE)
        plan = self.plan
        total = plan.size(unit.phonemes, unit.n_words)
        n = max(1, math.ceil(total / plan.target), math.ceil(unit.phonemes / piece_cap))
        goal = total / n
        pieces: list[_Unit] = []
        start = 0
        phon = 0
        for i, cost in enumerate(costs):
            if i > start:
                size_if = plan.size(phon + cost, i - start + 1)
                if phon + cost > piece_cap or size_if > goal * 1.05:
                    pieces.append(_Unit(unit.tokens[start:i], phon, token_costs=costs[start:i]))
                    start, phon = i, 0
            phon += cost
        pieces.append(_Unit(unit.tokens[start:], phon, token_costs=costs[start:]))
        pieces[-1].para_end = unit.para_end
        return pieces

    # -- packing ---------------------------------------------------------------------------

    def take_group(self, pending: deque[_Unit]) -> list[_Unit]:
        """Whole units, greedily, up to the target (a little past it when that is closer)."""
        plan = self.plan
        group: list[_Unit] = [pending.popleft()]
        phon = group[0].phonemes
        words = group[0].n_words
        while pending and not (group[-1].para_end and plan.size(phon, words) >= _PARAGRAPH_END_SHARE * plan.target):
            nxt = pending[0]
            new_phon = phon + 1 + nxt.phonemes
            new_size = plan.size(new_phon, words + nxt.n_words)
            cur_size = plan.size(phon, words)
            fits = new_phon <= plan.max_phonemes and (
                new_size <= plan.target
                or (new_size <= plan.target * _OVERSHOOT and new_size - plan.target < plan.target - cur_size)
            )
            if not fits:
                break
            group.append(pending.popleft())
            phon, words = new_phon, words + nxt.n_words
        return group

    def chunks_for(self, units: list[_Unit]) -> Iterable[_Planned]:
        """Each chunk's label tokens, speak text, phonemization and G2P audit, verified under the cap
        (after the audit's fixes)."""
        pending = deque(units)
        cap = self.plan.max_phonemes
        while pending:
            group = self.take_group(pending)
            while True:
                tokens = [t for u in group for t in u.tokens]
                speak = speakable(" ".join(tokens), heading=group[0].heading)
                result = self.phonemize(speak)
                flags: list[G2PFlag] = []
                if self.auditor is not None:
                    speak, result, flags = self.auditor.audit_and_fix(speak, result)
                if len(result.phonemes) <= cap:
                    yield _Planned(tokens, speak, result, tuple(flags), group[0].heading)
                    break
                if len(group) > 1:
                    log.debug("chunk over the cap (%d > %d); moving a unit on", len(result.phonemes), cap)
                    pending.appendleft(group.pop())
                    continue
                pieces = self.split_overflow(group[0], result)
                group = [pieces[0]]
                pending.extendleft(reversed(pieces[1:]))

    def split_overflow(self, unit: _Unit, result: Phonemized) -> list[_Unit]:
        cap = self.plan.max_phonemes
        if len(unit.tokens) > 1:
            unit.token_costs = self.token_costs(unit.tokens, result)
            unit.phonemes = sum(unit.token_costs)
            pieces = self.split_words(unit, piece_cap=max(1, min(cap, unit.phonemes) // 2))
            if len(pieces) > 1:
                for piece in pieces:
                    piece.heading = unit.heading
                return pieces
            mid = len(unit.tokens) // 2  # costs were too coarse to split on: halve by words
            return [
                _Unit(unit.tokens[:mid], cap, heading=unit.heading),
                _Unit(unit.tokens[mid:], cap, unit.para_end, unit.heading),
            ]
        # One whitespace-free token longer than a whole chunk (a URL, a run of digits): the only
        # place a label token is ever cut. Cut after dashes/slashes if possible, else evenly.
        token = unit.tokens[0]
        log.warning("a single %d-character token exceeds %d phonemes; cutting it", len(token), cap)
        parts = [p for p in re.split(r"(?<=[-—/])", token) if p]
        if len(parts) < 2:
            n = max(2, math.ceil(len(result.phonemes) / (cap * _PIECE_CAP_SHARE)))
            step = math.ceil(len(token) / n)
            parts = [token[i : i + step] for i in range(0, len(token), step)]
        half = len(parts) // 2
        return [
            _Unit(["".join(parts[:half])], cap, heading=unit.heading),
            _Unit(["".join(parts[half:])], cap, unit.para_end, unit.heading),
        ]


# --------------------------------------------------------------------------------------------
# public API


@dataclass(frozen=True, slots=True)
class ChunkSummary:
    n_chunks: int
    n_words: int
    est_seconds: float
    est_hours: float
    n_headings: int = 0
    n_chapters: int = 0
    max_phonemes: int = 0

    def __str__(self) -> str:
        return (
            f"{self.n_chunks} chunks ({self.n_headings} headings) over {self.n_chapters} chapters, "
            f"{self.n_words:,} words, ~{self.est_hours:.2f} h of speech (longest chunk "
            f"{self.max_phonemes} phonemes)"
        )


def summarize(chunks: Sequence[Chunk]) -> ChunkSummary:
    """Counts for the report line: chunks, words, estimated hours of speech."""
    seconds = sum(c.est_seconds for c in chunks)
    return ChunkSummary(
        n_chunks=len(chunks),
        n_words=sum(c.n_words for c in chunks),
        est_seconds=round(seconds, 1),
        est_hours=round(seconds / 3600, 3),
        n_headings=sum(1 for c in chunks if c.kind == "heading"),
        n_chapters=len({c.chapter_index for c in chunks}),
        max_phonemes=max((len(c.phonemes) for c in chunks), default=0),
    )


def chunk_book(
    book: Book,
    g2p: G2P,
    *,
    target_seconds: float = 22.0,
    target_words: int | None = None,
    max_phonemes: int = 500,
    phonemes_per_second: float = DEFAULT_PHONEMES_PER_SECOND,
    headings: Literal["own", "drop"] = "own",
    chapters: set[int] | None = None,
    auditor: G2PAuditor | None = None,
) -> list[Chunk]:
    """Chunks of ``book`` in reading order, each at most ``max_phonemes`` phonemes.

    ``Chunk.index`` is 1-based over the whole book for these settings: with ``chapters`` the
    whole book is still planned (so chapter 3's chunks keep the indices they have in a full
    run) and only the selected chapters are returned. With ``auditor`` every chunk's G2P output
    is audited (``Chunk.g2p_flags``) and letter-spelled dictionary words are read as words unless
    the auditor keeps caps.

    Example: ``chunk_book(book, g2p, chapters={1})[0].text == "CHAPTER I. Down the Rabbit-Hole"``
    """
    if headings not in ("own", "drop"):
        raise ValueError(f"headings must be 'own' or 'drop', not {headings!r}")
    if target_words is not None and target_words < 1:
        raise ValueError("target_words must be at least 1")
    if not 16 <= max_phonemes <= KOKORO_MAX_PHONEMES:
        raise ValueError(f"max_phonemes must be between 16 and Kokoro's limit {KOKORO_MAX_PHONEMES}")
    if target_seconds <= 0 or phonemes_per_second <= 0:
        raise ValueError("target_seconds and phonemes_per_second must be positive")
    available = {c.index for c in book.chapters}
    if chapters is not None:
        missing = set(chapters) - available
        if missing == set(chapters):
            raise ValueError(
                f"book {book.book_id!r} has no chapter {sorted(missing)}; it has chapters {sorted(available)}"
            )
        if missing:
            log.warning("book %r has no chapter(s) %s; ignoring them", book.book_id, sorted(missing))
    if not g2p.ready:
        g2p.setup()

    started = time.perf_counter()
    plan = _Plan(max_phonemes, phonemes_per_second, target_seconds, target_words)
    chunker = _Chunker(g2p, plan, auditor)
    out: list[Chunk] = []
    index = 0
    for chapter in book.chapters:
        chunker.new_chapter()
        for kind, units in _chapter_units(chunker, chapter, headings):
            for planned in chunker.chunks_for(units):
                tokens, speak, result = planned.tokens, planned.speak, planned.result
                if not result.phonemes.strip() or not _has_word(speak):
                    # Only punctuation (a chapter that is just "— — —"): nothing to say.
                    log.warning("skipping chunk with nothing to say in chapter %d: %r", chapter.index, tokens)
                    continue
                index += 1
                if chapters is not None and chapter.index not in chapters:
                    continue
                text = " ".join(tokens)
                out.append(
                    Chunk(
                        book_id=book.book_id,
                        index=index,
                        chapter_index=chapter.index,
                        chapter_title=chapter.title,
                        kind=kind,
                        text=text,
                        speak_text=speak,
                        phonemes=result.phonemes,
                        word_phonemes=word_phonemes(tokens, result, heading=planned.heading),
                        n_words=len(tokens),
                        est_seconds=round(len(result.phonemes) / phonemes_per_second, 2),
                        g2p_flags=planned.flags,
                        word_spans=tuple(phoneme_spans(tokens, result, heading=planned.heading)),
                    )
                )
    elapsed = time.perf_counter() - started
    log.info("chunked %s in %.1f s (%d G2P calls): %s", book.book_id, elapsed, chunker.n_g2p_calls, summarize(out))
    return out


def _chapter_units(
    chunker: _Chunker, chapter: Chapter, headings: str
) -> Iterable[tuple[Literal["heading", "text"], list[_Unit]]]:
    if headings == "own" and chapter.heading_lines:
        tokens = chapter.title.split()
        n = len(chunker.phonemize(speakable(chapter.title, heading=True)).phonemes)
        yield "heading", [_Unit(tokens, n, para_end=True, heading=True)]
    if chapter.paragraphs:
        yield "text", chunker.units_for_paragraphs(chapter.paragraphs)
