"""The per-book pronunciation lexicon (``--lexicon FILE``) and ``pipeline lexicon suggest``.

File format: one entry per line, ``word<whitespace>phonemes`` in misaki's notation (what
``pipeline`` feeds Kokoro, e.g. ``Dinah dˈInə``); ``#`` starts a comment. A ``.json`` file holding
``{"word": "phonemes"}`` works too. Words match whole words in any case.

``suggest`` reads the store: label words with an unexplained verdict (``tts_failure``,
``ambiguous``) in at least ``min_chunks`` different chunks of a dataset are proposed, with the
phonemes Kokoro was fed, what the engines heard, and espeak-ng's reading in misaki's notation as
the candidate entry (to check by ear before use).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.tts.espeak import to_misaki

FAILING_VERDICTS = ("tts_failure", "ambiguous")


class LexiconError(ValueError):
    """A lexicon file that cannot be read; the message names the file and line."""


def load_lexicon(path: Path) -> dict[str, str]:
    """word (lower case) -> phonemes."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LexiconError(f"cannot read the lexicon {path}: {exc}") from exc
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LexiconError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise LexiconError(f'{path}: expected {{"word": "phonemes", ...}}')
        entries = data
    else:
        entries = {}
        for number, line in enumerate(raw.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 1)
            if len(parts) != 2:
                raise LexiconError(f"{path}:{number}: expected 'word phonemes', got {line!r}")
            entries[parts[0]] = parts[1].strip()
    bad = [w for w, p in entries.items() if not w.strip() or not p.strip() or "/" in p or "]" in w]
    if bad:
        raise LexiconError(f"{path}: unusable entries for {', '.join(bad[:5])}")
    return {word.lower(): phonemes for word, phonemes in entries.items()}


@dataclass(frozen=True, slots=True)
class Suggestion:
    word: str
    chunks: int  # distinct (book, chunk) where it failed
    fed: str  # the phonemes Kokoro was fed (most common)
    heard: tuple[str, ...]  # what the engines wrote instead (most common first)
    proposed: str  # the candidate entry (espeak-ng's reading), "" when there is none


SUGGEST_SQL = """
SELECT lower(w.norm_word) AS word,
       count(DISTINCT (q.book, q.chunk_index)) AS chunks,
       mode() WITHIN GROUP (ORDER BY w.fed_phonemes) AS fed,
       array_agg(DISTINCT COALESCE(w.primary_word, w.secondary_word)) AS heard
FROM audio_words w JOIN audio_quality q USING (file_hash, dataset)
WHERE w.dataset = %s AND w.verdict = ANY(%s) AND w.word_index >= 0 AND w.norm_word IS NOT NULL
GROUP BY lower(w.norm_word)
HAVING count(DISTINCT (q.book, q.chunk_index)) >= %s
ORDER BY chunks DESC, word
"""


def suggest(
    store, dataset: str, min_chunks: int = 2, reader: Callable[[str], str | None] | None = None
) -> list[Suggestion]:
    """Words failing in ``min_chunks`` or more chunks; ``reader(word)`` gives espeak-ng's IPA."""
    with store.session("reading failing words") as conn:
        rows = conn.execute(SUGGEST_SQL, (dataset, list(FAILING_VERDICTS), min_chunks)).fetchall()
    out = []
    for word, chunks, fed, heard in rows:
        ipa = reader(word) if reader is not None else None
        out.append(
            Suggestion(word, int(chunks), fed or "", tuple(h for h in heard if h), to_misaki(ipa) if ipa else "")
        )
    return out


def format_lexicon(suggestions: list[Suggestion]) -> str:
    """The suggestions as a lexicon file (entries without a proposal are left commented out)."""
    lines = ["# pipeline lexicon suggest: check each entry by ear, then pass the file with --lexicon"]
    for s in suggestions:
        note = f"  # failed in {s.chunks} chunks; fed {s.fed or '?'}; heard {', '.join(s.heard[:4]) or '-'}"
        lines.append((f"{s.word} {s.proposed}" if s.proposed else f"# {s.word} ?") + note)
    return "\n".join(lines) + "\n"
