"""Runs of label words in another language ("“Où est ma chatte?”" in an English book).

An English recognizer can only guess how to write words of another language, as it guesses a
name; the verdict rules judge such words by what Kokoro was fed (like names), and heal reads
them with that language's G2P. A word is *clearly* of language L when L's word lists count it
at least ``CLEAR_MIN_ZIPF`` and at least ``CLEAR_MARGIN`` more often than English does ("est",
"chatte" in French); it *may be* of L when L counts it at least as often as English ("ma"). A
run is a stretch of adjacent words that may all be of L holding at least ``MIN_CLEAR_WORDS``
different clearly-L words; one foreign-looking word alone ("Los" of "Los Angeles"), or said
twice ("Tut, tut"), is not a run.
Frequencies are wordfreq's (Zipf scale); without wordfreq nothing is foreign.

A multilingual recognizer can listen again, in the run's language, to the stretch of audio that
holds the run (``run_stretches`` says which label words, ``stretch_times`` where they lie by
what an English pass heard around them; ``judges.whisper`` does it with Whisper base). A run word
that listen wrote with the same letters (case, accents and punctuation aside) or with the same
sound in that language (``same_sound(language, label word, heard word)``, e.g. espeak-ng's French:
"chate" and "chatte" are both ``ʃat``) was heard: ``heard_in_language``.

Example::

    foreign_runs("So she began again: “Où est ma chatte?” which was".split())
    # -> {4: "fr", 5: "fr", 6: "fr", 7: "fr"}
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from verdicts.align import align
from verdicts.engine_words import hypothesis_tokens
from verdicts.normalize import normalize
from verdicts.records import Hypothesis, LanguageListen

# wordfreq's code -> espeak-ng's voice for the language's G2P
FOREIGN_LANGUAGES = {"fr": "fr-fr", "es": "es", "de": "de", "it": "it", "pt": "pt"}
CLEAR_MIN_ZIPF = 4.0
CLEAR_MARGIN = 2.0
MIN_CLEAR_WORDS = 2

Frequency = Callable[[str, str], float]  # (word, language) -> Zipf frequency
_NOT_LETTERS = re.compile(r"[^\w']|[\d_]")


@functools.cache
def _wordfreq() -> Frequency | None:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # an optional dependency: no foreign words without it
        return None
    return zipf_frequency


def _letters(word: str) -> str:
    return _NOT_LETTERS.sub("", word).strip("'").lower()


def _class(letters: str, language: str, frequency: Frequency) -> int:
    """2: clearly of ``language``; 1: may be; 0: not (or no letters)."""
    if not letters:
        return 0
    theirs, english = frequency(letters, language), frequency(letters, "en")
    if theirs >= CLEAR_MIN_ZIPF and theirs - english >= CLEAR_MARGIN:
        return 2
    return 1 if theirs > 0 and theirs >= english else 0


@functools.lru_cache(maxsize=1 << 16)
def _wordfreq_classes(letters: str) -> tuple[int, ...]:
    """``_class`` per language of ``FOREIGN_LANGUAGES`` with wordfreq (a re-verdict meets the same
    words in clip after clip)."""
    frequency = _wordfreq()
    assert frequency is not None
    return tuple(_class(letters, language, frequency) for language in FOREIGN_LANGUAGES)


def foreign_runs(words: Sequence[str], frequency: Frequency | None = None) -> dict[int, str]:
    """Label word index -> language code (``FOREIGN_LANGUAGES``) for every word inside a run of
    another language; a word claimed by two languages goes to the run with more clear words."""
    if len(words) < MIN_CLEAR_WORDS or (frequency is None and _wordfreq() is None):
        return {}
    letters = [_letters(w) for w in words]
    if frequency is None:
        per_word = [_wordfreq_classes(w) for w in letters]
    else:
        per_word = [tuple(_class(w, language, frequency) for language in FOREIGN_LANGUAGES) for w in letters]
    if sum(1 for classes in per_word if 2 in classes) < MIN_CLEAR_WORDS:
        return {}  # most labels: no run can exist
    runs: list[tuple[int, int, int, str]] = []  # (different clear words, start, end, language)
    for k, language in enumerate(FOREIGN_LANGUAGES):
        classes = [c[k] for c in per_word]
        start = 0
        while start < len(classes):
            if not classes[start]:
                start += 1
                continue
            end = start
            while end < len(classes) and classes[end]:
                end += 1
            clear = len({letters[i] for i in range(start, end) if classes[i] == 2})
            if clear >= MIN_CLEAR_WORDS:
                runs.append((clear, start, end, language))
            start = end
    out: dict[int, str] = {}
    for _, start, end, language in sorted(runs, key=lambda r: (-r[0], r[1])):
        if not any(i in out for i in range(start, end)):
            out.update(dict.fromkeys(range(start, end), language))
    return out


def run_stretches(runs: Mapping[int, str]) -> list[tuple[int, int, str]]:
    """``(first, last, language)`` of each stretch of adjacent label words ``foreign_runs`` gave
    one language, in label order."""
    out: list[tuple[int, int, str]] = []
    for index in sorted(runs):
        if out and out[-1][1] == index - 1 and out[-1][2] == runs[index]:
            out[-1] = (out[-1][0], index, runs[index])
        else:
            out.append((index, index, runs[index]))
    return out


def stretch_times(label: str, heard: Hypothesis, first: int, last: int) -> tuple[float | None, float | None]:
    """Where label words ``first``..``last`` lie in the audio, from an engine's timed words: the
    end of the nearest word before them the engine heard as written and the start of the nearest
    one after (None: from the clip's start / to its end)."""
    ref = normalize(label)
    tokens = hypothesis_tokens(heard)
    words = heard.words or ()
    if tokens.engine_words is None or not words:
        return None, None
    start: float | None = None
    end: float | None = None
    for op in align(ref.tokens, tokens.norm.tokens).ops:
        if op.kind != "equal" or op.ref_index is None or op.hyp_index is None:
            continue
        word = ref.source[op.ref_index]
        timed = [words[i] for i in tokens.engine_words[tokens.norm.source[op.hyp_index]]]
        if word < first and timed and timed[-1].end is not None:
            start = timed[-1].end
        elif word > last and timed and timed[0].start is not None:
            end = timed[0].start
            break
    return start, end


def _folded(text: str) -> list[str]:
    """Lower-case letters without accents, one entry per written word ("Où est-ce" -> ou est ce)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.findall(r"[a-z]+", plain.lower())


SameSound = Callable[[str, str, str], bool]  # (language, label word, heard word) -> same sound


def heard_in_language(
    label_words: Sequence[str], listen: LanguageListen, same_sound: SameSound | None = None
) -> set[int]:
    """The label word indices of ``listen``'s run that it heard: every piece of the word aligned
    to a heard piece with the same letters, or with the same sound in the listen's language."""
    pieces: list[tuple[int, str]] = [
        (i, piece) for i in range(listen.first, listen.last + 1) if i < len(label_words)
        for piece in _folded(label_words[i])
    ]  # fmt: skip
    heard = _folded(listen.text)
    good: dict[int, bool] = {}
    for op in align([p for _, p in pieces], heard).ops:
        if op.ref_index is None:
            continue  # a heard piece the run does not have
        index, piece = pieces[op.ref_index]
        hit = op.kind == "equal" or (
            op.kind == "substitute"
            and op.hyp_index is not None
            and same_sound is not None
            and same_sound(listen.language, piece, heard[op.hyp_index])
        )
        good[index] = good.get(index, True) and hit
    return {i for i, ok in good.items() if ok}
