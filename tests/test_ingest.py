"""read_book on the shipped Alice and on small synthetic books written to tmp_path."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipeline.ingest import Book, BookError, read_book

ALICE_TITLES = [
    "CHAPTER I. Down the Rabbit-Hole",
    "CHAPTER II. The Pool of Tears",
    "CHAPTER III. A Caucus-Race and a Long Tale",
    "CHAPTER IV. The Rabbit Sends in a Little Bill",
    "CHAPTER V. Advice from a Caterpillar",
    "CHAPTER VI. Pig and Pepper",
    "CHAPTER VII. A Mad Tea-Party",
    "CHAPTER VIII. The Queen’s Croquet-Ground",
    "CHAPTER IX. The Mock Turtle’s Story",
    "CHAPTER X. The Lobster Quadrille",
    "CHAPTER XI. Who Stole the Tarts?",
    "CHAPTER XII. Alice’s Evidence",
]


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _words(book: Book) -> list[str]:
    return [w for c in book.chapters for p in c.paragraphs for w in p.split()]


# --------------------------------------------------------------------------------------------
# Alice


def test_alice_has_twelve_chapters_with_their_titles(alice_book: Book) -> None:
    assert [c.index for c in alice_book.chapters] == list(range(13))
    assert [c.title for c in alice_book.chapters[1:]] == ALICE_TITLES
    assert alice_book.chapters[1].heading_lines == ("CHAPTER I.", "Down the Rabbit-Hole")
    assert all(c.paragraphs for c in alice_book.chapters)


def test_alice_metadata(alice_book: Book, alice_path: Path) -> None:
    assert alice_book.book_id == "alice"
    assert alice_book.title == "Alice’s Adventures in Wonderland"
    assert alice_book.encoding == "utf-8"
    assert alice_book.source == str(alice_path)
    assert alice_book.warnings == ()
    front = alice_book.chapter(0)
    assert front.paragraphs == (
        "Alice’s Adventures in Wonderland",
        "by Lewis Carroll",
        "THE MILLENNIUM FULCRUM EDITION 3.0",
    )


def test_alice_contents_block_is_not_chapters(alice_book: Book) -> None:
    contents = [d.text.strip() for d in alice_book.dropped if d.kind == "contents"]
    assert contents[0] == "Contents"
    assert [" ".join(line.split()) for line in contents[1:]] == ALICE_TITLES
    assert alice_book.chapter(1).paragraphs[0].startswith("Alice was beginning to get very tired")
    # Nothing of the contents leaked into the front matter either.
    assert not any("CHAPTER" in p for p in alice_book.chapter(0).paragraphs)


def test_alice_drops_only_illustrations_and_scene_breaks(alice_book: Book, alice_path: Path) -> None:
    raw = alice_path.read_text(encoding="utf-8").splitlines()
    assert alice_book.n_dropped("illustration") == sum(1 for line in raw if line.strip() == "[Illustration]")
    assert alice_book.n_dropped("illustration") == 1
    assert alice_book.n_dropped("separator") == 9
    assert {d.kind for d in alice_book.dropped} == {"illustration", "separator", "contents"}
    for d in alice_book.dropped:
        assert raw[d.line_no - 1] == d.text


def test_alice_words_exactly_those_of_the_raw_file(
    alice_book: Book, alice_raw_words: tuple[list[str], list[str]]
) -> None:
    heading_words, body_words = alice_raw_words
    assert _words(alice_book) == body_words
    assert [w for c in alice_book.chapters for w in c.title.split() if c.index > 0] == heading_words


def test_alice_label_text_is_the_books_own(alice_book: Book) -> None:
    first = alice_book.chapter(1).paragraphs
    assert "There was nothing so _very_ remarkable in that;" in first[2]
    assert "“Oh dear! Oh dear! I shall be late!”" in first[2]
    text = " ".join(p for c in alice_book.chapters for p in c.paragraphs)
    assert "waistcoat-pocket" in text and "reality—the grass" in text
    assert "[later editions continued as follows" in text  # bracketed prose is not an illustration
    assert "\n" not in text and "  " not in text
    assert text.endswith("happy summer days. THE END")


# --------------------------------------------------------------------------------------------
# Project Gutenberg header and footer

MODERN = (
    "The Project Gutenberg eBook of Tiny Tales\r\n\r\n"
    "This ebook is for the use of anyone anywhere in the United States.\r\n\r\n"
    "Title: Tiny Tales\r\n\r\nAuthor: Nobody\r\n\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK TINY TALES ***\r\n\r\n"
    "Produced by Some Volunteer and the Online Team\r\n\r\n"
    "TINY TALES\r\n\r\n"
    "CHAPTER 1\r\n\r\nThe Start\r\n\r\n"
    "It was a dark night. Mr. Brown said so.\r\n\r\n"
    "Chapter 2: The End\r\n\r\nThen it was day.\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK TINY TALES ***\r\n\r\n"
    "Updated editions will replace the previous one--the old editions will be renamed.\r\n"
)


def test_modern_gutenberg_header_and_footer_stripped(tmp_path: Path) -> None:
    book = read_book(_write(tmp_path, "Tiny_Tales.txt", MODERN))
    assert book.book_id == "tiny-tales"
    assert book.title == "Tiny Tales"
    assert [c.title for c in book.chapters] == ["Front matter", "CHAPTER 1 The Start", "Chapter 2: The End"]
    assert _words(book) == "TINY TALES It was a dark night. Mr. Brown said so. Then it was day.".split()
    assert book.n_dropped("gutenberg_header") == 6 and book.n_dropped("gutenberg_footer") == 2
    assert not any("Gutenberg" in p or "Produced" in p for c in book.chapters for p in c.paragraphs)


@pytest.mark.parametrize(
    ("header", "footer"),
    [
        (
            "The Project Gutenberg Etext of Old Tales\n\nsmall print\n\n"
            "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n",
            "End of the Project Gutenberg EBook of Old Tales\n\n*** more license ***\n",
        ),
        ("", "End of Project Gutenberg's Old Tales, by Someone\n\nlicense text\n"),
        (
            "***START OF THE PROJECT GUTENBERG EBOOK OLD TALES***\n\n",
            "***END OF THIS PROJECT GUTENBERG EBOOK OLD TALES***\n",
        ),
    ],
)
def test_older_gutenberg_markers_stripped(tmp_path: Path, header: str, footer: str) -> None:
    body = "Old tales begin here.\nA second line   of it.\n\nAnd a last paragraph.\n\n"
    book = read_book(_write(tmp_path, "old.txt", header + body + footer))
    assert [c.paragraphs for c in book.chapters] == [
        ("Old tales begin here. A second line of it.", "And a last paragraph.")
    ]


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("content", [b"", b"   \n\n\t\r\n  ", "\ufeff\n\n".encode()])
def test_empty_file_is_a_book_error(tmp_path: Path, content: bytes) -> None:
    path = _write(tmp_path, "empty.txt", content)
    with pytest.raises(BookError, match="empty") as info:
        read_book(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_binary_file_is_a_book_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(BookError, match="binary") as info:
        read_book(path)
    assert str(path) in str(info.value)


def test_binary_without_nul_bytes_is_a_book_error(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = _write(tmp_path, "noise.dat", bytes(rng.randrange(1, 256) for _ in range(4000)))
    with pytest.raises(BookError, match="binary"):
        read_book(path)


def test_missing_file_is_a_book_error(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="not found"):
        read_book(tmp_path / "nope.txt")


def test_gutenberg_boilerplate_only_is_a_book_error(tmp_path: Path) -> None:
    text = "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n"
    with pytest.raises(BookError, match="no readable text"):
        read_book(_write(tmp_path, "hollow.txt", text))


# --------------------------------------------------------------------------------------------
# encodings and line endings


def test_cp1252_file_decoded_with_a_warning(tmp_path: Path) -> None:
    text = "“Café,” she said—naïve as ever—“isn’t open.”\n"
    book = read_book(_write(tmp_path, "win.txt", text.encode("cp1252")))
    assert book.encoding == "cp1252"
    assert any("not valid UTF-8" in w and "cp1252" in w for w in book.warnings)
    assert book.chapters[0].paragraphs == (text.strip(),)


def test_latin1_fallback_when_cp1252_fails(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252, so only latin-1 decodes this.
    book = read_book(_write(tmp_path, "latin.txt", b"Caf\xe9 \x81 and cr\xe8me.\n"))
    assert book.encoding == "latin-1"
    assert any("latin-1" in w for w in book.warnings)
    assert book.chapters[0].paragraphs[0].startswith("Café")


def test_utf8_bom_and_utf16(tmp_path: Path) -> None:
    text = "Hello there.\n\nSecond paragraph.\n"
    for name, data, encoding in [
        ("bom.txt", b"\xef\xbb\xbf" + text.encode(), "utf-8"),
        ("wide.txt", text.encode("utf-16"), "utf-16"),
    ]:
        book = read_book(_write(tmp_path, name, data))
        assert book.encoding == encoding
        assert book.chapters[0].paragraphs == ("Hello there.", "Second paragraph.")


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_line_endings(tmp_path: Path, newline: str) -> None:
    text = newline.join(["CHAPTER I.", "A Title", "", "First line", "second  line.", "", "Next one.", ""])
    book = read_book(_write(tmp_path, "ends.txt", text))
    assert book.chapters[0].title == "CHAPTER I. A Title"
    assert book.chapters[0].paragraphs == ("First line second line.", "Next one.")


# --------------------------------------------------------------------------------------------
# chapters


def test_no_headings_is_one_chapter(tmp_path: Path) -> None:
    book = read_book(_write(tmp_path, "plain.txt", "Once upon a time.\n\nThe end.\n"))
    assert len(book.chapters) == 1
    assert book.chapters[0].index == 1
    assert book.chapters[0].paragraphs == ("Once upon a time.", "The end.")
    assert any("no chapter headings" in w for w in book.warnings)


def test_heading_styles(tmp_path: Path) -> None:
    text = (
        "A Book\n\n"
        "Chapter 1\n\nIn Which We Begin\n\nIt was cold.\n\n"  # title as its own block
        "CHAPTER TWO. Later\n\nBook I read was good.\n\n"  # prose that starts like a heading
        "Part 3 — The End\n\nThe end.\n"
    )
    book = read_book(_write(tmp_path, "styles.txt", text))
    assert [c.title for c in book.chapters] == [
        "Front matter",
        "Chapter 1 In Which We Begin",
        "CHAPTER TWO. Later",
        "Part 3 — The End",
    ]
    assert book.chapter(2).paragraphs == ("Book I read was good.",)


def test_heading_followed_by_a_one_line_sentence_keeps_it_as_text(tmp_path: Path) -> None:
    book = read_book(_write(tmp_path, "s.txt", "CHAPTER I\n\nIt was cold.\n\nCHAPTER II\n\nSo it was.\n"))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("CHAPTER I", ("It was cold.",)),
        ("CHAPTER II", ("So it was.",)),
    ]


def test_unlabelled_contents_list_is_not_chapters(tmp_path: Path) -> None:
    text = (
        "My Book\n\nCHAPTER I\n\nCHAPTER II\n\n"
        "A preface long enough to be prose, with many words in it, quite a lot of words indeed.\n\n"
        "CHAPTER I\n\nOne.\n\nCHAPTER II\n\nTwo.\n"
    )
    book = read_book(_write(tmp_path, "toc.txt", text))
    assert [c.title for c in book.chapters] == ["Front matter", "CHAPTER I", "CHAPTER II"]
    assert [c.paragraphs for c in book.chapters[1:]] == [("One.",), ("Two.",)]
    assert book.n_dropped("contents") == 2


def test_labelled_contents_with_bare_entries(tmp_path: Path) -> None:
    text = (
        "My Book\n\nCONTENTS\n\nI. The First\n\nII. The Second\n\n"
        "CHAPTER I. The First\n\n"
        "A long paragraph of real prose that goes on for many words, so it is not short at all.\n\n"
        "CHAPTER II. The Second\n\nMore prose.\n"
    )
    book = read_book(_write(tmp_path, "toc2.txt", text))
    assert [c.title for c in book.chapters] == [
        "Front matter",
        "CHAPTER I. The First",
        "CHAPTER II. The Second",
    ]
    assert book.chapter(0).paragraphs == ("My Book",)
    assert book.n_dropped("contents") == 3


def test_sections_numbered_by_a_bare_roman_numeral_are_chapters(tmp_path: Path) -> None:
    """Sections of "A Scandal in Bohemia": "I.", "II.", "III." alone on their lines, in order; a
    lone "I." or numerals out of order are text."""
    text = "A Story\n\nI.\n\nTo Sherlock Holmes she is the woman.\n\nII.\n\nAt three o’clock.\n\nIII.\n\nI slept.\n"
    book = read_book(_write(tmp_path, "sections.txt", text))
    assert [(c.title, c.heading_lines, c.paragraphs) for c in book.chapters[1:]] == [
        ("I.", ("I.",), ("To Sherlock Holmes she is the woman.",)),
        ("II.", ("II.",), ("At three o’clock.",)),
        ("III.", ("III.",), ("I slept.",)),
    ]
    for prose in ("A Story\n\nI.\n\nSaid the man.\n", "A Story\n\nII.\n\nText.\n\nI.\n\nMore.\n"):
        assert len(read_book(_write(tmp_path, "prose.txt", prose)).chapters) == 1
    assert read_book(Path(__file__).parents[1] / "data/books/sherlock_scandal.txt").chapter(3).title == "III."


def test_book_and_chapter_headings_back_to_back_merge(tmp_path: Path) -> None:
    text = (
        "BOOK ONE\n\nCHAPTER I\n\nText one.\n\nCHAPTER II. Next\n\nText two.\n\nBOOK TWO\n\nCHAPTER I\n\nText three.\n"
    )
    book = read_book(_write(tmp_path, "parts.txt", text), book_id="my-id")
    assert book.book_id == "my-id"
    assert [c.title for c in book.chapters] == [
        "BOOK ONE CHAPTER I",
        "CHAPTER II. Next",
        "BOOK TWO CHAPTER I",
    ]
    assert book.chapters[0].heading_lines == ("BOOK ONE", "CHAPTER I")


def test_illustration_captions_dropped_and_counted(tmp_path: Path) -> None:
    text = (
        "First paragraph\n[Illustration: A long caption\nthat goes on]\nSecond paragraph.\n\n"
        "[Illustration]\n\n[Pg 12]\n\n[A bracketed aside is text.]\n"
    )
    book = read_book(_write(tmp_path, "ill.txt", text))
    assert book.chapters[0].paragraphs == (
        "First paragraph",
        "Second paragraph.",
        "[A bracketed aside is text.]",
    )
    assert book.n_dropped("illustration") == 4
