"""Read a plain-text book into chapters of paragraphs, keeping the book's own words.

What is removed is removed whole and recorded in ``Book.dropped`` (Project Gutenberg
header/footer, ``[Illustration]`` lines, ``*  *  *`` scene breaks, the table of contents);
everything else reaches a paragraph with its words exactly as the book writes them (the
label text is the ground truth the validator compares against), only line breaks and
whitespace runs collapsed to single spaces.

Example::

    book = read_book(Path("data/books/alice.txt"))
    book.chapters[1].title    # 'CHAPTER I. Down the Rabbit-Hole'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from verdicts.numbers import roman_value

log = logging.getLogger(__name__)

FRONT_MATTER_TITLE = "Front matter"
# Share of control characters (other than tab/newline/CR/FF/VT) above which a file is binary.
_MAX_CONTROL_SHARE = 0.01


class BookError(ValueError):
    """A book that cannot be read; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class DroppedLine:
    """A line deliberately left out of the text, and why."""

    kind: str  # gutenberg_header | gutenberg_footer | illustration | separator | contents
    line_no: int  # 1-based, in the decoded file
    text: str


@dataclass(frozen=True, slots=True)
class Chapter:
    index: int  # 0 = front matter, 1..N = chapters in book order
    title: str  # heading label as the book writes it, e.g. "CHAPTER I. Down the Rabbit-Hole"
    heading_lines: tuple[str, ...]  # the heading's lines, whitespace collapsed ("" for front matter)
    paragraphs: tuple[str, ...]  # the book's words, lines joined by single spaces


@dataclass(frozen=True, slots=True)
class Book:
    book_id: str
    title: str
    source: str
    encoding: str
    chapters: tuple[Chapter, ...]
    warnings: tuple[str, ...] = ()
    dropped: tuple[DroppedLine, ...] = ()

    def chapter(self, index: int) -> Chapter:
        for chapter in self.chapters:
            if chapter.index == index:
                return chapter
        raise KeyError(f"book {self.book_id!r} has no chapter {index}")

    def n_dropped(self, kind: str) -> int:
        return sum(1 for d in self.dropped if d.kind == kind)

    @property
    def n_words(self) -> int:
        return sum(len(p.split()) for c in self.chapters for p in c.paragraphs)


# --------------------------------------------------------------------------------------------
# decoding


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "book"


def _decode(raw: bytes, path: Path, warnings: list[str]) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise BookError(f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16") from exc
    if b"\x00" in raw:
        raise BookError(f"{path} looks like a binary file (it contains NUL bytes), not a plain-text book")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    for encoding in ("cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        warnings.append(f"{path.name} is not valid UTF-8 (first bad byte at offset {bad_at}); decoded as {encoding}")
        return text, encoding
    raise AssertionError("latin-1 decodes any byte string")  # pragma: no cover


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _check_text(text: str, path: Path) -> None:
    if not text.strip():
        raise BookError(f"{path} is empty (nothing but whitespace)")
    n_control = len(_CONTROL.findall(text))
    if n_control > max(2, _MAX_CONTROL_SHARE * len(text)):
        raise BookError(
            f"{path} looks like a binary file ({n_control} control characters in {len(text)}), not a plain-text book"
        )


# --------------------------------------------------------------------------------------------
# Project Gutenberg header and footer

_PG_START = re.compile(
    r"^\W*(start of (the |this )?project gutenberg|end\W*the small print)",
    re.IGNORECASE,
)
_PG_END = re.compile(r"^\W*end of (the |this )?project gutenberg", re.IGNORECASE)
_PG_TITLE = re.compile(r"^\s*Title:\s*(\S.*?)\s*$")
_PG_CREDIT = re.compile(
    r"^\s*(produced by|e-?text prepared by|this e-?(text|book) was produced by|transcribed from)",
    re.IGNORECASE,
)


def _strip_gutenberg(lines: list[str], dropped: list[DroppedLine]) -> tuple[int, int, str | None]:
    """Body line range ``[start, end)`` and the title from the header, if any."""
    end = len(lines)
    for i, line in enumerate(lines):
        if _PG_END.match(line):
            end = i
            break
    start = 0
    for i in range(end):
        if _PG_START.match(lines[i]):
            start = i + 1
    title = None
    for line in lines[:start]:
        if m := _PG_TITLE.match(line):
            title = m.group(1)
            break
    if start:
        # The producer credit right after the START marker is Gutenberg's, not the book's.
        first = start
        while first < end and not lines[first].strip():
            first += 1
        if first < end and _PG_CREDIT.match(lines[first]):
            start = first
            while start < end and lines[start].strip():
                start += 1
    for i in range(start):
        if lines[i].strip():
            dropped.append(DroppedLine("gutenberg_header", i + 1, lines[i]))
    for i in range(end, len(lines)):
        if lines[i].strip():
            dropped.append(DroppedLine("gutenberg_footer", i + 1, lines[i]))
    if start or end < len(lines):
        log.info("stripped Project Gutenberg header (%d lines) and footer (%d lines)", start, len(lines) - end)
    return start, end, title


# --------------------------------------------------------------------------------------------
# line filters

# "[Illustration]", "[Illustration: Alice and the Dodo]", "[Pg 23]", "[Blank Page]" ...
_FIGURE_START = re.compile(
    r"^\s*\[\s*(illustrations?|frontispiece|picture|image|plate|figure|fig\.|map|sidenote|"
    r"blank page|pg\.?\s*\d+|page\s*\d+)\b",
    re.IGNORECASE,
)
_EMPTY_BRACKETS = re.compile(r"^\s*\[\s*\]\s*$")
# "*       *       *", "* * *", "-----", "=====": scene breaks and rules, no words.
_SEPARATOR = re.compile(r"^\s*(?:[*•·~#=]\s*)+$|^\s*(?:[-_]\s*){3,}$")


def _drop_figures_and_separators(
    lines: list[str], start: int, end: int, dropped: list[DroppedLine]
) -> list[tuple[int, str] | None]:
    """Body lines as ``(line_no, text)``; ``None`` marks a paragraph break (blank/dropped line)."""
    out: list[tuple[int, str] | None] = []
    i = start
    while i < end:
        line = lines[i]
        if not line.strip():
            out.append(None)
            i += 1
            continue
        if _SEPARATOR.match(line):
            dropped.append(DroppedLine("separator", i + 1, line))
            out.append(None)
            i += 1
            continue
        if _FIGURE_START.match(line) or _EMPTY_BRACKETS.match(line):
            # A caption may run over several lines; it ends at the closing bracket (or, if the
            # bracket never closes, at the end of the paragraph).
            j = i
            depth = 0
            while j < end and lines[j].strip():
                depth += lines[j].count("[") - lines[j].count("]")
                if depth <= 0:
                    break
                j += 1
            if j >= end or not lines[j].strip():
                j -= 1
            for k in range(i, j + 1):
                dropped.append(DroppedLine("illustration", k + 1, lines[k]))
            out.append(None)
            i = j + 1
            continue
        out.append((i + 1, line))
        i += 1
    return out


# --------------------------------------------------------------------------------------------
# chapter headings

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
_HEADING = re.compile(
    r"^(?P<kw>CHAPTER|Chapter|CHAP\.|Chap\.|BOOK|Book|PART|Part)\s+"
    r"(?P<num>[IVXLCDM]+|[ivxlcdm]+|\d{1,4}|[A-Za-z]+)"
    r"(?P<rest>.*)$"
)
_TITLE_SEPARATOR = re.compile(r"^\s*[.:—–-]\s*(?P<title>.*)$")
_CONTENTS_TITLE = re.compile(r"^\s*(table of )?contents\s*[.:]?\s*$", re.IGNORECASE)
_MAX_TITLE_WORDS = 15


@dataclass(frozen=True, slots=True)
class _HeadingLine:
    keyword: str  # normalised: chapter | book | part
    number: str  # normalised: upper-case numeral or word
    title: str  # title text on the same line, possibly ""


def _heading_line(line: str) -> _HeadingLine | None:
    text = " ".join(line.split())
    m = _HEADING.match(text)
    if not m or len(text) > 100:
        return None
    num = m.group("num")
    if num.isalpha() and roman_value(num) is None and num.lower() not in _NUMBER_WORDS:
        return None
    if num.isalpha() and num.lower() not in _NUMBER_WORDS and not (num.isupper() or num.islower()):
        return None
    rest = m.group("rest")
    if not rest.strip():
        title = ""
    elif sep := _TITLE_SEPARATOR.match(rest):
        title = sep.group("title")
    elif rest[0].isspace() and m.group("kw").isupper():
        title = rest.strip()  # "CHAPTER IV  The Rabbit Sends in a Little Bill"
    else:
        return None  # "Book I read yesterday ..." is prose, not a heading
    if len(title.split()) > _MAX_TITLE_WORDS:
        return None
    keyword = m.group("kw").lower().rstrip(".")
    keyword = "chapter" if keyword == "chap" else keyword
    return _HeadingLine(keyword, num.upper(), title)


def _is_title_line(line: str) -> bool:
    """A short line that can be the title under a bare "CHAPTER I." heading."""
    text = line.strip()
    if not text or len(text.split()) > 12 or _heading_line(text):
        return False
    if not (text[0].isupper() or text[0].isdigit()):
        return False  # prose opens with a quote or runs on in lower case; rules have no letters
    return not text.endswith((",", ";", ":", "…")) and (not text.endswith(".") or text.isupper())


@dataclass
class _Block:
    """Consecutive non-blank body lines."""

    lines: list[tuple[int, str]]

    @property
    def texts(self) -> list[str]:
        return [t for _, t in self.lines]

    def heading(self) -> _HeadingLine | None:
        return _heading_line(self.lines[0][1])

    def is_short(self) -> bool:
        return all(len(t) <= 80 and len(t.split()) <= _MAX_TITLE_WORDS for t in self.texts)


def _blocks(body: Sequence[tuple[int, str] | None]) -> list[_Block]:
    blocks: list[_Block] = []
    current: list[tuple[int, str]] = []
    for item in body:
        if item is None:
            if current:
                blocks.append(_Block(current))
                current = []
        else:
            current.append(item)
    if current:
        blocks.append(_Block(current))
    return blocks


def _is_toc_block(block: _Block) -> bool:
    heads = [h for h in map(_heading_line, block.texts) if h]
    if len(heads) >= 3:
        return True
    return len(heads) == 2 and heads[0].keyword == heads[1].keyword


def _mark_contents(blocks: list[_Block]) -> set[int]:
    """Indices of blocks that form a table of contents."""
    contents: set[int] = set()
    for i, block in enumerate(blocks):
        if _is_toc_block(block):
            contents.add(i)
    for i, block in enumerate(blocks):
        if len(block.lines) != 1 or not _CONTENTS_TITLE.match(block.texts[0]):
            continue
        # Entries follow the "Contents" line: short blocks, until a heading repeats one already
        # listed, or a heading is followed by real prose (then it is the first chapter).
        seen: set[tuple[str, str]] = set()
        j = i + 1
        while j < len(blocks) and blocks[j].is_short():
            head = blocks[j].heading()
            if head and (head.keyword, head.number) in seen:
                break
            if head and j + 1 < len(blocks) and not blocks[j + 1].is_short():
                break
            if head:
                seen.add((head.keyword, head.number))
            j += 1
        if j > i + 1 or (i + 1) in contents:
            contents.update(range(i, j))
    return contents


@dataclass
class _Heading:
    block_indices: list[int]
    lines: list[str]
    keys: list[tuple[str, str]]


def _find_headings(blocks: list[_Block], skip: set[int]) -> tuple[list[_Heading], dict[int, list[str]]]:
    """Headings in book order; ``extra`` maps a heading block to body lines that follow the
    heading inside the same block (a heading printed without a blank line after it)."""
    headings: list[_Heading] = []
    extra: dict[int, list[str]] = {}
    i = 0
    while i < len(blocks):
        if i in skip:
            i += 1
            continue
        block = blocks[i]
        head = block.heading()
        if head is None:
            i += 1
            continue
        texts = block.texts
        if len(texts) == 1:
            lines = [texts[0]]
            used = [i]
            nxt = i + 1
            if not head.title and nxt < len(blocks) and nxt not in skip:
                nb = blocks[nxt]
                if len(nb.lines) == 1 and _is_title_line(nb.texts[0]):
                    lines.append(nb.texts[0])
                    used.append(nxt)
            headings.append(_Heading(used, lines, [(head.keyword, head.number)]))
            i = used[-1] + 1
            continue
        if len(texts) == 2 and not head.title and _is_title_line(texts[1]):
            headings.append(_Heading([i], texts, [(head.keyword, head.number)]))
        else:
            headings.append(_Heading([i], [texts[0]], [(head.keyword, head.number)]))
            extra[i] = texts[1:]
        i += 1
    return headings, extra


_BARE_NUMERAL = re.compile(r"^(?P<num>[IVXLC]+)\.?$")


def _bare_numeral_headings(blocks: list[_Block], skip: set[int]) -> list[_Heading]:
    """Sections numbered by a roman numeral alone on its line ("I.", "II.", "III." in "A Scandal in
    Bohemia"): one-line blocks that hold only a numeral, when they run I, II, III ... in book order
    (at least two; anything else is not trusted as a heading)."""
    found = []
    for i, block in enumerate(blocks):
        m = _BARE_NUMERAL.match(block.texts[0].strip()) if i not in skip and len(block.lines) == 1 else None
        if m and (value := roman_value(m.group("num"))):
            found.append((i, value, m.group("num")))
    if len(found) < 2 or [value for _, value, _ in found] != list(range(1, len(found) + 1)):
        return []
    return [_Heading([i], [blocks[i].texts[0].strip()], [("section", numeral)]) for i, _, numeral in found]


def _merge_and_filter(headings: list[_Heading], contents: set[int]) -> list[_Heading]:
    """Merge "BOOK I" + "CHAPTER I" printed back to back; drop runs of bare same-kind headings
    with no text between them whose first entry reappears later (an unlabelled contents list,
    whose blocks are added to ``contents``)."""
    not_body = {b for h in headings for b in h.block_indices} | contents

    def adjacent(a: _Heading, b: _Heading) -> bool:
        return all(k in not_body for k in range(a.block_indices[-1] + 1, b.block_indices[0]))

    merged: list[_Heading] = []
    for h in headings:
        if merged and adjacent(merged[-1], h) and merged[-1].keys[-1][0] != h.keys[0][0]:
            prev = merged[-1]
            merged[-1] = _Heading(prev.block_indices + h.block_indices, prev.lines + h.lines, prev.keys + h.keys)
        else:
            merged.append(h)
    # Contents runs: two or more same-kind headings back to back whose first key reappears later.
    result: list[_Heading] = []
    i = 0
    while i < len(merged):
        j = i
        while (
            j + 1 < len(merged)
            and adjacent(merged[j], merged[j + 1])
            and merged[j].keys[-1][0] == merged[j + 1].keys[0][0]
        ):
            j += 1
        if j > i:
            later = {k for h in merged[j + 1 :] for k in h.keys}
            if merged[i].keys[0] in later:
                for h in merged[i : j + 1]:
                    contents.update(h.block_indices)
                i = j + 1
                continue
        result.append(merged[i])
        i += 1
    return result


# --------------------------------------------------------------------------------------------
# entry point


def _paragraph(lines: Sequence[str]) -> str:
    return " ".join(" ".join(lines).split())


def read_book(path: Path, book_id: str | None = None) -> Book:
    """Read a plain-text book (UTF-8, else cp1252/latin-1 with a warning) into chapters.

    Example: ``read_book(Path("alice.txt")).chapters[1].title == "CHAPTER I. Down the Rabbit-Hole"``
    """
    path = Path(path)
    if not path.exists():
        raise BookError(f"book file not found: {path}")
    if not path.is_file():
        raise BookError(f"{path} is not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise BookError(f"{path} is empty")
    warnings: list[str] = []
    text, encoding = _decode(raw, path, warnings)
    # A trailing Ctrl-Z is an old DOS end-of-file mark, not text.
    text = text.lstrip("\ufeff").rstrip("\x1a").replace("\r\n", "\n").replace("\r", "\n")
    _check_text(text, path)

    lines = text.split("\n")
    dropped: list[DroppedLine] = []
    start, end, pg_title = _strip_gutenberg(lines, dropped)
    body = _drop_figures_and_separators(lines, start, end, dropped)
    blocks = _blocks(body)
    if not blocks:
        raise BookError(f"{path} has no readable text (after removing the Project Gutenberg header/footer)")

    contents = _mark_contents(blocks)
    headings, extra = _find_headings(blocks, contents)
    headings = _merge_and_filter(headings, contents) or _bare_numeral_headings(blocks, contents)
    for b in sorted(contents):
        for line_no, line in blocks[b].lines:
            dropped.append(DroppedLine("contents", line_no, line))

    heading_at = {h.block_indices[0]: h for h in headings}
    heading_blocks = {b for h in headings for b in h.block_indices}
    chapters_raw: list[tuple[_Heading | None, list[str]]] = [(None, [])]
    for b, block in enumerate(blocks):
        if b in contents:
            continue
        if b in heading_at:
            chapters_raw.append((heading_at[b], []))
            if b in extra:
                chapters_raw[-1][1].append(_paragraph(extra[b]))
            continue
        if b in heading_blocks:
            continue
        chapters_raw[-1][1].append(_paragraph(block.texts))

    front = chapters_raw[0][1]
    # Without a Gutenberg "Title:" line, a short first line that is not a sentence is the title.
    first = front[0] if front else ""
    looks_like_title = 0 < len(first.split()) <= 12 and not first.endswith(tuple(".,;:!?"))
    title = pg_title or (first if looks_like_title else path.stem.replace("_", " "))

    chapters: list[Chapter] = []
    if len(chapters_raw) == 1:
        warnings.append(f"{path.name}: no chapter headings found; the whole book is one chapter")
        chapters.append(Chapter(1, title, (), tuple(front)))
    else:
        if front:
            chapters.append(Chapter(0, FRONT_MATTER_TITLE, (), tuple(front)))
        for n, (heading, paragraphs) in enumerate(chapters_raw[1:], start=1):
            assert heading is not None
            heading_lines = tuple(" ".join(line.split()) for line in heading.lines)
            chapters.append(Chapter(n, " ".join(heading_lines), heading_lines, tuple(paragraphs)))
            if not paragraphs:
                warnings.append(f"chapter {n} ({' '.join(heading_lines)!r}) has no text")
        keys = [k for h in headings for k in h.keys]
        if len(set(keys)) < len(keys) and len({k[0] for k in keys}) == 1:
            warnings.append("some chapter numbers occur twice; check the chapter split")
    if not any(c.paragraphs or c.heading_lines for c in chapters):
        raise BookError(f"{path} has no readable text")

    for w in warnings:
        log.warning("%s", w)
    book = Book(
        book_id=book_id or slugify(path.stem),
        title=title,
        source=str(path),
        encoding=encoding,
        chapters=tuple(chapters),
        warnings=tuple(warnings),
        dropped=tuple(sorted(dropped, key=lambda d: d.line_no)),
    )
    log.info(
        "read %s: %d chapters, %d paragraphs, %d words (%s; dropped %d illustration, %d contents lines)",
        path.name,
        sum(1 for c in chapters if c.index > 0),
        sum(len(c.paragraphs) for c in chapters),
        book.n_words,
        encoding,
        book.n_dropped("illustration"),
        book.n_dropped("contents"),
    )
    return book
