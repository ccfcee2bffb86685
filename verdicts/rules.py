"""The verdict rules.

Two kinds, both tables read top to bottom (the first rule that fires wins):

* ``BLOCK_RULES`` look at one engine: a few reference tokens against a few engine tokens where
  the two disagree, and say whether a known, harmless cause explains it (a filler, a number
  written another way, a compound, a variant spelling, a sound-alike, a broken label).
* ``combine`` then decides each label word from both engines' readings, with the label-typo rule
  and the "same way" check running before anything is called a ``tts_failure``.

Each verdict records the rule id that fired, e.g. ``homophone.cmudict`` or
``tts_failure.same_word``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from verdicts import rule_ids as ids
from verdicts.abbreviations import ABBREVIATIONS, spoken_forms
from verdicts.abbreviations import lookup as lookup_abbreviation
from verdicts.contractions import expansions, has_contraction
from verdicts.lexicon import Lexicon
from verdicts.numbers import GLUE, is_number_word, roman_value, spoken_values
from verdicts.phonemes import (
    NEAR_RATIO,
    PLAUSIBLE_RATIO,
    clean,
    in_fed_accent,
    plausibly_heard,
    relative_distance,
    same_sound,
)
from verdicts.records import Explanation
from verdicts.variants import INTERJECTIONS, variant_rule

FILLERS: frozenset[str] = frozenset(
    {"uh", "uhh", "um", "umm", "uhm", "hmm", "hm", "mm", "mmm", "mhm", "er", "erm", "ah", "ahh", "eh", "huh"}
)
# Closed-class words: a non-word label that splits into pieces with one of these in it is a
# missing space ("sisterwas"), not a compound ("waistcoat").
FUNCTION_WORDS: frozenset[str] = frozenset(
    """a an the and or but if of to in on at by for with from as is was are were be been am it its
    he she i we you they his her my me him us them our your their that this not no so had has
    have do did does will would could should can into up out all there then than""".split()
)


@dataclass(frozen=True, slots=True)
class Block:
    """A window of one engine's disagreement: reference tokens against engine tokens."""

    ref: tuple[str, ...]
    hyp: tuple[str, ...]
    label_words: tuple[str, ...]  # the original label words the reference tokens come from
    whole_words: bool  # the reference tokens are all the tokens of those label words


BlockExplainer = Callable[[Block, Lexicon], "Explanation | None"]


@dataclass(frozen=True, slots=True)
class BlockRule:
    name: str
    max_ref: int
    max_hyp: int
    explain: BlockExplainer
    # Cheap test on the first reference / engine token of a window (None = that side is empty).
    first: Callable[[str | None, str | None], bool] = lambda r, h: True
    min_ref: int = 0
    min_hyp: int = 0


def _ex(verdict: str, rule: str) -> Explanation:
    return Explanation(verdict, rule)


# --- block rules --------------------------------------------------------------------------


def _filler(block: Block, lexicon: Lexicon) -> Explanation | None:
    ref, hyp = block.ref, block.hyp
    if len(ref) == 1 and not hyp and ref[0] in FILLERS:
        return _ex("filler_word", ids.FILLER_WORD_OMITTED)
    if not ref and len(hyp) == 1 and hyp[0] in FILLERS:
        return _ex("filler_word", ids.FILLER_WORD_INSERTED)
    if len(ref) == 1 and len(hyp) == 1 and ref[0] in FILLERS and hyp[0] in FILLERS:
        return _ex("filler_word", ids.FILLER_WORD_SUBSTITUTED)
    return None


def _numberish(token: str | None) -> bool:
    return token is not None and (
        is_number_word(token) or token in GLUE or token == "point" or roman_value(token) is not None
    )


def _number(block: Block, lexicon: Lexicon) -> Explanation | None:
    if block.ref == block.hyp:
        return None
    left, right = spoken_values(block.ref), spoken_values(block.hyp)
    if left & right:
        return _ex("abbreviation", ids.ABBREVIATION_NUMBER)
    return None


def _expansion(block: Block, lexicon: Lexicon) -> Explanation | None:
    if block.ref == block.hyp:
        return None
    if block.whole_words and len(block.label_words) == 1:
        entry = lookup_abbreviation(block.label_words[0], normalizing=False)
        if entry is not None and (block.hyp in entry.spoken or block.hyp == (entry.written,)):
            return _ex("abbreviation", ids.ABBREVIATION_EXPANSION)
    if len(block.hyp) == 1 and block.ref in spoken_forms(block.hyp[0]):
        return _ex("abbreviation", ids.ABBREVIATION_EXPANSION)
    return None


def is_letters(tokens: tuple[str, ...]) -> bool:
    """Two or more single letters: a word read out letter by letter."""
    return len(tokens) >= 2 and all(len(t) == 1 and t.isalpha() for t in tokens)


def is_acronym(label_word: str, lexicon: Lexicon) -> bool:
    """Written in capitals and not in misaki's curated lexicon as a word ("BBC", not "ME" or
    "DRINK"; CMUdict lists many acronyms as words, so it is not asked)."""
    letters = "".join(ch for ch in label_word if ch.isalpha())
    return len(letters) >= 2 and letters.isupper() and not lexicon.is_listed(letters.lower())


def _letters(block: Block, lexicon: Lexicon) -> Explanation | None:
    for spelled, word in ((block.ref, block.hyp), (block.hyp, block.ref)):
        if is_letters(spelled) and len(word) == 1 and "".join(spelled) == word[0]:
            heard_letters = spelled is block.hyp
            if heard_letters and not all(is_acronym(w, lexicon) for w in block.label_words):
                # "ME" read "em-ee": a spelled-out reading, not a match. Returned so that the
                # letters stay together with the word; the reading counts it as wrong.
                return _ex("tts_failure", ids.TTS_FAILURE_SPELLED_OUT)
            return _ex("abbreviation", ids.ABBREVIATION_LETTERS)
    return None


def _missing_space(block: Block, lexicon: Lexicon) -> Explanation | None:
    ref, hyp = block.ref, block.hyp
    if len(ref) == 1 and len(hyp) >= 2 and ref[0] == "".join(hyp) and not lexicon.is_word(ref[0]):
        if all(lexicon.is_word(t) for t in hyp) and any(t in FUNCTION_WORDS for t in hyp):
            return _ex("gt_error", ids.GT_ERROR_MISSING_SPACE)
    return None


def _compound(block: Block, lexicon: Lexicon) -> Explanation | None:
    ref, hyp = block.ref, block.hyp
    if len(ref) + len(hyp) < 3 or "".join(ref) != "".join(hyp) or is_letters(ref) or is_letters(hyp):
        return None  # letters one by one are the letters rule's (an acronym, or a spelled-out word)
    if len(ref) > len(hyp):
        return _ex("compound", ids.COMPOUND_MERGED)  # the label's words heard as one
    if len(ref) < len(hyp):
        return _ex("compound", ids.COMPOUND_SPLIT)  # the label's word heard as several
    return _ex("compound", ids.COMPOUND_RESEGMENTED)


def _variant(block: Block, lexicon: Lexicon) -> Explanation | None:
    a, b = " ".join(block.ref), " ".join(block.hyp)
    name = variant_rule(a, b, lexicon.is_word, lexicon.is_listed)
    if name is not None:
        return _ex("spelling_variant", ids.SPELLING_VARIANT_BY_PATTERN[name])
    if len(block.ref) == 1 and len(block.hyp) == 1 and "'" in a + b and a.replace("'", "") == b.replace("'", ""):
        if not (lexicon.is_word(a) and lexicon.is_word(b)):  # "oclock" / "o'clock", not "were"/"we're"
            return _ex("spelling_variant", ids.SPELLING_VARIANT_APOSTROPHE)
    return None


def _contraction(block: Block, lexicon: Lexicon) -> Explanation | None:
    """A contraction written out, or words written as their contraction ("I've" / "I have")."""
    if block.ref == block.hyp or not block.ref or not block.hyp:
        return None
    if expansions(block.ref) & expansions(block.hyp):
        return _ex("spelling_variant", ids.SPELLING_VARIANT_CONTRACTION)
    return None


def _homophone(block: Block, lexicon: Lexicon) -> Explanation | None:
    how = lexicon.sounds_alike(block.ref, block.hyp)
    return _ex("homophone", ids.HOMOPHONE_BY_SOURCE[how]) if how else None


# --- cheap tests on the first token of each side, so most windows are never built ----------

# First tokens an abbreviation can start with, on either side ("mph", "miles", "saint", "u").
_ABBREVIATION_STARTS = frozenset(
    {a.written for a in ABBREVIATIONS} | {form[0] for a in ABBREVIATIONS for form in a.spoken}
)


def _any_filler(r: str | None, h: str | None) -> bool:
    return r in FILLERS or h in FILLERS


def _both_numbers(r: str | None, h: str | None) -> bool:
    return _numberish(r) and _numberish(h)


def _maybe_abbreviation(r: str | None, h: str | None) -> bool:
    return r is not None and h is not None and (r in _ABBREVIATION_STARTS or h in _ABBREVIATION_STARTS)


def _maybe_letters(r: str | None, h: str | None) -> bool:
    if r is None or h is None:
        return False
    return (len(r) == 1 and len(h) > 1 and h.startswith(r)) or (len(h) == 1 and len(r) > 1 and r.startswith(h))


def _maybe_split(r: str | None, h: str | None) -> bool:
    return r is not None and h is not None and len(r) > len(h) and r.startswith(h)


def _same_start(r: str | None, h: str | None) -> bool:
    return r is not None and h is not None and r != "" and r[:1] == h[:1]


def _maybe_contraction(r: str | None, h: str | None) -> bool:
    return r is not None and h is not None and (has_contraction(r) or has_contraction(h))


def _both(r: str | None, h: str | None) -> bool:
    return r is not None and h is not None


BLOCK_RULES: tuple[BlockRule, ...] = (
    BlockRule("filler_word", 1, 1, _filler, _any_filler),
    BlockRule(ids.ABBREVIATION_NUMBER, 9, 9, _number, _both_numbers, 1, 1),
    BlockRule(ids.ABBREVIATION_EXPANSION, 4, 4, _expansion, _maybe_abbreviation, 1, 1),
    BlockRule(ids.ABBREVIATION_LETTERS, 6, 6, _letters, _maybe_letters, 1, 1),
    BlockRule(ids.GT_ERROR_MISSING_SPACE, 1, 4, _missing_space, _maybe_split, 1, 2),
    BlockRule("compound", 4, 4, _compound, _same_start, 1, 1),
    BlockRule("spelling_variant", 2, 2, _variant, _both, 1, 1),
    BlockRule(ids.SPELLING_VARIANT_CONTRACTION, 2, 2, _contraction, _maybe_contraction, 1, 1),
    BlockRule("homophone", 2, 2, _homophone, _both, 1, 1),
)


# --- joint rules: one label word, both engines ----------------------------------------------


def osa_distance(a: str, b: str) -> int:
    """Edit distance counting an adjacent transposition as one edit ("teh" -> "the" is 1)."""
    n, m = len(a), len(b)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[n][m]


def label_typo(label: tuple[str, ...], heard: tuple[str, ...], lexicon: Lexicon) -> Explanation | None:
    """The label word is no word, and what both engines heard is a real word one or two edits
    away from it (one edit for words of up to four letters)."""
    if len(label) != 1 or len(heard) != 1 or label == heard:
        return None
    written, word = label[0], heard[0]
    if lexicon.is_word(written) or not lexicon.is_word(word) or not written.isalpha():
        return None
    limit = 1 if len(written) <= 4 else 2
    return _ex("gt_typo", ids.GT_TYPO_EDIT_DISTANCE) if osa_distance(written, word) <= limit else None


def same_way(a: tuple[str, ...], b: tuple[str, ...], lexicon: Lexicon) -> str | None:
    """How two wrong readings agree: "same_word", "same_sound", or None (they differ)."""
    if a == b or (a and b and "".join(a) == "".join(b)):
        return "same_word"
    if a and b and variant_rule(" ".join(a), " ".join(b), lexicon.is_word, lexicon.is_listed):
        return "same_word"
    if lexicon.sounds_alike(a, b):
        return "same_sound"
    return None


Status = Literal["ok", "explained", "wrong"]


@dataclass(frozen=True, slots=True)
class WordContext:
    """What the rules know about one label word beyond its tokens."""

    fed: str | None = None  # the phonemes Kokoro was fed for it (None: unknown, e.g. foreign data)
    proper_noun: bool = False  # a name: engines can only guess its spelling
    label_plausible_min: float | None = None  # Thresholds.label_plausible_min


def label_plausible(readings: Sequence[WordReading], context: WordContext | None, lexicon: Lexicon) -> bool:
    """Two independent signs that an engine misheard the label word, for every engine that heard
    another word (not nothing): asked to read the label instead, it gives the label word at least
    ``label_plausible_min``, and what it heard sounds close to what Kokoro was fed
    (``plausibly_heard``). Forced decoding alone is not enough: an attention decoder finds a
    word that is said elsewhere in the clip (two words swapped) plausible where it is not. An
    engine that did not score the label, or an unknown fed reading, leaves the word as it was."""
    if context is None or context.label_plausible_min is None or not context.fed:
        return False
    wrong = [r for r in readings if r.status == "wrong"]
    return bool(wrong) and all(
        any(r.heard)
        and r.label_prob is not None
        and r.label_prob >= context.label_plausible_min
        and any(plausibly_heard(context.fed, said) for said in lexicon.pronounce(r.heard))
        for r in wrong
    )


def spelled_out(label: tuple[str, ...], heard: tuple[str, ...]) -> bool:
    return is_letters(heard) and "".join(heard) == "".join(label)


def _fed_distance(heard: tuple[str, ...], fed: str, lexicon: Lexicon) -> float:
    """How far the nearest pronunciation of the heard words (in the fed phonemes' accent) is from
    the fed phonemes, per fed symbol (1.0 when the heard words have no pronunciation)."""
    said = in_fed_accent(fed, lexicon.pronounce(heard))
    return min((relative_distance(fed, form) for form in said if clean(form)), default=1.0)


def fed_sound_near(
    label: tuple[str, ...], heard: Sequence[tuple[str, ...]], context: WordContext | None, lexicon: Lexicon
) -> bool:
    """A proper noun, unknown word, interjection or rare word heard, by every engine that got it
    wrong (``heard``: their words), as another spelling of what Kokoro was fed: at least one
    reading near the fed phonemes and every one plausibly heard (names have no spelling an engine
    can know, so two engines guessing two spellings of the same sound is the expected case). A
    rare word counts when every engine wrote non-words for it ("astrakhan" -> "astrican"): an
    engine that does not know a word spells its sound, as it does a name."""
    if context is None or not context.fed or not heard or any(not h or is_letters(h) for h in heard):
        return False
    spelled_freely = (
        context.proper_noun or all(t in INTERJECTIONS for t in label) or _unknown_to_engines(label, heard, lexicon)
    )
    if not (spelled_freely or not all(lexicon.is_word(t) for t in label)):
        return False
    distances = [_fed_distance(h, context.fed, lexicon) for h in heard]
    return min(distances) < NEAR_RATIO and max(distances) <= PLAUSIBLE_RATIO


# Below this Zipf frequency (once per million words) a word is rare: a recognizer's language
# model pulls it toward a common word that sounds alike ("comfits" -> "comforts").
RARE_ZIPF = 3.0


def _rarity(label: tuple[str, ...], lexicon: Lexicon) -> float | None:
    """The Zipf frequency of a one-word label when that word is rare; None otherwise."""
    rarity = lexicon.zipf(label[0]) if len(label) == 1 else None
    return rarity if rarity is not None and rarity < RARE_ZIPF else None


def _unknown_to_engines(label: tuple[str, ...], heard: Sequence[tuple[str, ...]], lexicon: Lexicon) -> bool:
    """One rare label word that every engine wrote as words no dictionary has."""
    return _rarity(label, lexicon) is not None and all(not lexicon.is_word(t) for h in heard for t in h)


def rare_word_near(
    label: tuple[str, ...], heard: tuple[str, ...], context: WordContext | None, lexicon: Lexicon
) -> bool:
    """A rare word heard as a more common word that sounds near what Kokoro was fed: the
    engine's language model, not the speech, chose the common word. A far reading stays a
    failure (the substitute words of a real misreading are not sound-alikes)."""
    if context is None or not context.fed or not heard or is_letters(heard):
        return False
    if (rarity := _rarity(label, lexicon)) is None:
        return False
    if any((lexicon.zipf(t) or 0.0) <= rarity for t in heard):
        return False
    return _fed_distance(heard, context.fed, lexicon) < NEAR_RATIO


def run_sounds_as_fed(heard: Sequence[tuple[str, ...]], fed: Sequence[str], lexicon: Lexicon) -> bool:
    """Adjacent label words (two or more) whose fed phonemes, joined, every engine heard as other
    words pronounced the same way up to ``near`` ("in sight" -> "inside", "tie 'em" -> "time"):
    ``heard`` holds, per engine, its words for the whole run."""
    joined = "".join(fed)
    if len(fed) < 2 or not heard or not joined:
        return False
    return all(
        words and not is_letters(words) and _fed_distance(words, joined, lexicon) < NEAR_RATIO for words in heard
    )


def split_sounds_as_fed(
    label: tuple[str, ...], heard: Sequence[tuple[str, ...]], context: WordContext | None, lexicon: Lexicon
) -> bool:
    """One label word that every engine which got it wrong heard as two or more words that,
    joined, are pronounced as Kokoro was fed it up to ``near`` ("alas" heard "a lass"): the
    recognizer put a word boundary inside the word; the speech said it. (The mirror of
    ``run_sounds_as_fed``; letters one by one are the spelled-out rule's.)"""
    if context is None or not context.fed or len(label) != 1 or not heard:
        return False
    return all(
        len(words) >= 2 and not is_letters(words) and _fed_distance(words, context.fed, lexicon) < NEAR_RATIO
        for words in heard
    )


def sounds_as_fed(heard: tuple[str, ...], fed: str, lexicon: Lexicon) -> bool:
    """The heard word can be said the way Kokoro was asked to say the label word (a homophone
    in context, not any dictionary reading of it)."""
    return any(same_sound(fed, said) for said in lexicon.pronounce(heard))


# Not frozen: built for every word of every clip (a frozen dataclass's __init__ costs ~4x as much);
# treated as immutable all the same.
@dataclass(slots=True)
class WordReading:
    """One engine's reading of one label word."""

    status: Status
    explanation: Explanation | None
    heard: tuple[str, ...]  # normalized engine tokens aligned to the word ("" = not heard)
    label_prob: float | None = None  # the engine's probability of the label word, forced to read it


def combine(
    label: tuple[str, ...],
    primary: WordReading,
    secondary: WordReading | None,
    lexicon: Lexicon,
    *,
    markup: bool = False,
    context: WordContext | None = None,
) -> Explanation:
    """The verdict for one label word from the primary and (optional) secondary reading.

    Order: broken label; label typo (both engines agree on a nearby real word); pass; rules that
    explain every disagreement; one engine right; letters one by one (spelled out); a name heard
    as another spelling of the fed phonemes; a rare word heard as a more common one near them;
    one word heard as several that joined sound as fed; single engine; both wrong (same way =
    tts_failure, differently = ambiguous).
    """
    if markup:
        return _ex("gt_error", ids.GT_ERROR_MARKUP)
    if (
        secondary is not None
        and primary.status != "ok"
        and secondary.status != "ok"
        and primary.heard == secondary.heard
        and (typo := label_typo(label, primary.heard, lexicon)) is not None
    ):
        return typo
    readings = [r for r in (primary, secondary) if r is not None]
    if all(r.status == "ok" for r in readings):
        return _ex("pass", ids.PASS_EXACT)
    if not any(r.status == "wrong" for r in readings):
        first = next(r for r in readings if r.status == "explained")
        assert first.explanation is not None
        return first.explanation
    if secondary is None or secondary.status == "wrong":
        wrong = [r.heard for r in readings if r.status == "wrong"]
        if primary.status == "wrong" and all(spelled_out(label, h) for h in wrong):
            if secondary is None:
                return _ex("unverified", ids.UNVERIFIED_SINGLE_ENGINE)
            return _ex("tts_failure", ids.TTS_FAILURE_SPELLED_OUT)
        if primary.status == "wrong" and fed_sound_near(label, wrong, context, lexicon):
            return _ex("spelling_variant", ids.SPELLING_VARIANT_PHONEMES_NEAR)
        if primary.status == "wrong" and all(rare_word_near(label, h, context, lexicon) for h in wrong):
            return _ex("stt_error", ids.STT_ERROR_RARE_WORD_NEAR)
        if primary.status == "wrong" and split_sounds_as_fed(label, wrong, context, lexicon):
            return _ex("compound", ids.COMPOUND_SOUNDS_AS_FED)
    if secondary is None:
        if label_plausible(readings, context, lexicon):
            return _ex("stt_error", ids.STT_ERROR_LABEL_PLAUSIBLE)
        return _ex("unverified", ids.UNVERIFIED_SINGLE_ENGINE)
    if primary.status == "wrong" and secondary.status != "wrong":
        rule = ids.STT_ERROR_SECONDARY_EXACT if secondary.status == "ok" else ids.STT_ERROR_SECONDARY_EXPLAINED
        return _ex("stt_error", rule)
    if secondary.status == "wrong" and primary.status != "wrong":
        rule = ids.SECONDARY_ERROR_PRIMARY_EXACT if primary.status == "ok" else ids.SECONDARY_ERROR_PRIMARY_EXPLAINED
        return _ex("secondary_error", rule)
    if label_plausible(readings, context, lexicon):
        return _ex("stt_error", ids.STT_ERROR_LABEL_PLAUSIBLE)
    if not primary.heard and not secondary.heard:
        return _ex("tts_failure", ids.TTS_FAILURE_BOTH_MISSING)
    how = same_way(primary.heard, secondary.heard, lexicon)
    if how is not None:
        return _ex("tts_failure", ids.TTS_FAILURE_BY_AGREEMENT[how])
    return _ex("ambiguous", ids.AMBIGUOUS_DIFFERENT_WORDS)
