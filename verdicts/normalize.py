"""Text normalization, applied identically to the label and to every hypothesis, that keeps a map
from each normalized token back to the original word it came from.

Casefold; unicode quotes and dashes unified; accents folded; stray markup (``<i>``, ``[1]``,
``&amp;``) removed and remembered; underscores (italics) removed; hyphens, dashes and slashes
split words; punctuation stripped (inner apostrophes kept: "don't", "alice's"); numbers to words
("1865" -> eighteen sixty five, "42nd" -> forty second); titles and a few abbreviations expanded
(Mr -> mister, St. before a name -> saint, etc. -> et cetera); roman numerals after
CHAPTER/BOOK/PART to numbers.

Example::

    n = normalize("Mr. Hare's waistcoat-pocket, 1865.")
    n.tokens   # ('mister', "hare's", 'waistcoat', 'pocket', 'eighteen', 'sixty', 'five')
    n.source   # (0, 1, 2, 2, 3, 3, 3): index of the label word each token came from
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from verdicts.abbreviations import Abbreviation
from verdicts.abbreviations import lookup as lookup_abbreviation
from verdicts.numbers import cardinal, digits_to_words, roman_value


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalized tokens of a text and where each came from.

    ``words`` are the original words (whitespace split, or the engine's word list);
    ``source[k]`` is the index in ``words`` of ``tokens[k]``; ``spans[i]`` is the token range
    ``(start, end)`` of word ``i`` (empty for punctuation-only words); ``markup`` holds the
    indices of words that carried stray markup.
    """

    words: tuple[str, ...]
    tokens: tuple[str, ...]
    source: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]
    markup: frozenset[int] = frozenset()

    def word_tokens(self, index: int) -> tuple[str, ...]:
        start, end = self.spans[index]
        return self.tokens[start:end]


_QUOTES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "‛": "'",
        "ʼ": "'",
        "′": "'",
        "`": "'",
        "´": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "‟": '"',
        "″": '"',
        "«": '"',
        "»": '"',
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
        "…": "...",
        "\u00a0": " ",
    }
)
_LIGATURES = str.maketrans({"æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "đ": "d"})

# Stray markup: HTML/XML tags, comments, footnote marks, HTML entities, and recognizers' noise
# tags such as "[MUSIC]" or "[BLANK_AUDIO]" (upper case only: "[Illustration]" is read aloud).
_MARKUP = re.compile(
    r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|\[(?:\d{1,4}|[a-z*†‡]|[A-Z][A-Z_ ]+)\]|\{\d{1,4}\}"
    r"|&(?:[A-Za-z]{2,8}|#\d{1,6});",
    re.DOTALL,
)
_ENTITY = re.compile(r"^&(?:[A-Za-z]{2,8}|#\d{1,6});$")
_WORD = re.compile(r"\S+")
_SPLIT = re.compile(r"[-/\\|~=+]+")  # dashes were unified to "-" already
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.){2,}$")
_EDGE = "\"'()[]{}<>,;:!?.*"
_INNER_BREAK = re.compile(r"[.,;:!?()\"\[\]{}<>*]+")
_NOT_TOKEN = re.compile(r"[^\w']+")
_DIGIT_OR_LETTERS = re.compile(r"\d[\d,.]*|[^\W\d_]+")
_HAS_DIGIT = re.compile(r"\d")
# Words after which a roman numeral is read as a number ("CHAPTER IV." -> chapter four).
_NUMBERED = frozenset({"chapter", "book", "part", "volume", "vol", "act", "scene", "section", "canto", "letter"})


def unify(text: str) -> str:
    """Unicode compatibility forms, one kind of quote, one kind of dash."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _fold(token: str) -> str:
    """Casefold and strip accents: "Café" -> "cafe"."""
    token = token.translate(_LIGATURES).casefold()
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _clean_token(part: str) -> str:
    token = _NOT_TOKEN.sub("", _fold(part))
    return token.strip("'")


def _plain_tokens(part: str) -> list[str]:
    """Tokens of one hyphen-free piece of a word: numbers, initialisms, plain words."""
    part = part.replace("_", "")
    if not part:
        return []
    if _INITIALISM.match(part.strip(_EDGE.replace(".", ""))):
        return [ch.casefold() for ch in part if ch.isalpha()]
    stripped = part.strip(_EDGE)
    # A leading currency sign or trailing % belongs to the number.
    core = stripped if stripped else part
    if _HAS_DIGIT.search(core):
        leading_dot = part.strip(_EDGE.replace(".", "")).rstrip(".")  # ".5"
        for candidate in (leading_dot, core):
            spoken = digits_to_words(candidate)
            if spoken is not None:
                return list(spoken)
        tokens: list[str] = []
        for piece in _DIGIT_OR_LETTERS.findall(core):
            if piece[0].isdigit():
                digits = piece.strip(".,")
                spoken = digits_to_words(digits) if digits else None
                if spoken is None and digits:
                    spoken = cardinal(int(re.sub(r"\D", "", digits)))
                tokens.extend(spoken or ())
            else:
                tokens.append(_fold(piece))
        return tokens
    out = []
    for piece in _INNER_BREAK.split(stripped):
        token = _clean_token(piece)
        if token:
            out.append(token)
    return out


def _is_capitalized(word: str) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    return bool(letters) and letters[0].isupper()


def _starts_with_digit(word: str | None) -> bool:
    return bool(word) and bool(re.match(r"^\W*\d", word or ""))


def word_tokens(word: str, prev: str | None = None, nxt: str | None = None) -> list[str]:
    """Normalized tokens of one word, given its neighbours (they decide "St." and "No.", and
    whether a roman numeral follows CHAPTER)."""
    facts = _word_facts(word)
    if facts is None:
        return []
    roman, entry, plain = facts
    # Roman numerals after CHAPTER / Book / PART ..., or alone (a section heading: "III.")
    if roman is not None and ((prev is None and nxt is None) or (prev is not None and _numbers_what_follows(prev))):
        return list(roman)
    if entry is not None and entry.written == "st":
        return list(entry.spoken[0] if nxt is not None and _is_capitalized(nxt) else entry.spoken[1])
    # "No." means "number" only before a numeral; otherwise it is the word "no".
    if entry is not None and (entry.written not in ("no", "nos") or _starts_with_digit(nxt)):
        return list(entry.spoken[0])
    return list(plain)


def _numbers_what_follows(word: str) -> bool:
    """CHAPTER, Book, Part ...: a roman numeral after it is a number."""
    return _is_capitalized(word) and word.strip(_EDGE).casefold() in _NUMBERED


@functools.lru_cache(maxsize=1 << 16)
def _word_facts(
    word: str,
) -> tuple[tuple[str, ...] | None, Abbreviation | None, tuple[str, ...]] | None:
    """What a word says by itself (a book's vocabulary repeats, so it is remembered): its reading
    as a number when it is an upper-case roman numeral (used after CHAPTER ...), its abbreviation
    entry, and its tokens when neither applies; None for a blank word."""
    word = unify(word)
    if not word.strip():
        return None
    core = word.strip(_EDGE)
    value = roman_value(core) if core.isupper() else None
    roman = tuple(cardinal(value)) if value is not None else None
    plain = tuple(token for part in _SPLIT.split(word) for token in _plain_tokens(part))
    return roman, lookup_abbreviation(word, normalizing=True), plain


def _remove_markup(text: str) -> tuple[str, bool]:
    found = False

    def repl(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        return html.unescape(match.group(0)) if _ENTITY.match(match.group(0)) else " "

    return _MARKUP.sub(repl, text).replace("\u00a0", " "), found


def normalize_words(words: Sequence[str]) -> Normalized:
    """Normalize a sequence of words (an engine's word list, or a label split on whitespace)."""
    cleaned: list[str] = []
    markup: set[int] = set()
    for i, word in enumerate(words):
        text, found = _remove_markup(word)
        cleaned.append(text)
        if found:
            markup.add(i)
    # Neighbours for context: the previous/next word that still has something in it.
    tokens: list[str] = []
    source: list[int] = []
    spans: list[tuple[int, int]] = []
    pieces = [c.split() for c in cleaned]
    flat = [(i, p) for i, ps in enumerate(pieces) for p in ps]
    position = 0
    for i, ps in enumerate(pieces):
        start = len(tokens)
        for piece in ps:
            prev = flat[position - 1][1] if position > 0 else None
            nxt = flat[position + 1][1] if position + 1 < len(flat) else None
            for token in word_tokens(piece, prev, nxt):
                tokens.append(token)
                source.append(i)
            position += 1
        spans.append((start, len(tokens)))
    return Normalized(tuple(words), tuple(tokens), tuple(source), tuple(spans), frozenset(markup))


def normalize(text: str) -> Normalized:
    """Normalize a whole text; ``words`` are its whitespace-separated words.

    Markup is found in the whole text first, so a tag with spaces inside (``<span class="x">``)
    is still one piece of markup; every word it touches is marked.
    """
    found = [(m.start(), m.end(), m.group(0)) for m in _MARKUP.finditer(text)]
    words: list[str] = []
    cleaned: list[str] = []
    markup: set[int] = set()
    for i, match in enumerate(_WORD.finditer(text)):
        start, end = match.span()
        word = match.group(0)
        words.append(word)
        overlapping = [(s, e, m) for s, e, m in found if s < end and start < e]
        if not overlapping:
            cleaned.append(word)
            continue
        markup.add(i)
        # Blank the markup out of this word (entities become the character they stand for).
        out, cursor = [], start
        for s, e, m in overlapping:
            if s > cursor:
                out.append(text[cursor:s])
            out.append(html.unescape(m) if _ENTITY.match(m) and start <= s and e <= end else " ")
            cursor = max(cursor, e)
        if cursor < end:
            out.append(text[cursor:end])
        cleaned.append("".join(out).replace("\u00a0", " "))
    base = normalize_words(cleaned)
    return Normalized(tuple(words), base.tokens, base.source, base.spans, frozenset(markup | base.markup))


def same_words(label: str, heard: str) -> bool:
    """Whether ``heard`` has exactly the normalized tokens of ``label`` (case, punctuation and
    number writing aside)."""
    return normalize(label).tokens == normalize(heard).tokens
