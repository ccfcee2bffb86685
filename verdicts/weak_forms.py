"""English function words and their weak forms: unstressed, "of" is said ``əv`` or ``ə``, "and"
``ən``, "have" ``əv``; two function words whose weak forms sound the same ("would have" / "would
of", "an antagonist" / "and antagonist") are told apart by a listener's grammar, not by the
sound, and a recognizer's language model picks one of them. Such a disagreement says nothing
about the speech.

``weak_forms_collide`` is that test for one label word and the words the engines heard for it:
the label word and every heard word are function words, Kokoro was fed the label word (its fed
phonemes sound like one of the word's forms), and each heard word has a form that sounds like one
of the label word's forms (phoneme distance at most ``SAME_SOUND_MAX``: reduced vowels, flaps
and one voicing pair) in the fed phonemes' accent.

The forms are the standard weak-form list of English phonetics (Roach, *English Phonetics and
Phonology*, ch. 12; Gimson) in misaki's alphabet, plus the strong forms; a few common function
words without a weak form ("in", "it", "is", "on") take part with their strong form alone.
Forms that are a bare consonant ('s, 'd, 'll, 've: written as contractions) are left out, and so
is dropping an h from "he"/"she"-like words (a dialect's, not every speaker's).

Example::

    weak_forms_collide("an", ("and",), "ən", lexicon)   # True: "and" is said ən
    weak_forms_collide("of", ("a",), "ʌv", lexicon)     # True: "of" is said ə before a consonant
    weak_forms_collide("he", ("you",), "hi", lexicon)   # False
"""

from __future__ import annotations

from collections.abc import Sequence

from verdicts.lexicon import Lexicon
from verdicts.phonemes import clean, in_fed_accent, same_sound

# Function word -> its forms, strong first (misaki's US alphabet: A = eɪ, I = aɪ, ɹ for r).
FUNCTION_WORD_FORMS: dict[str, tuple[str, ...]] = {
    "a": ("A", "ə", "ɐ"),
    "an": ("æn", "ən", "ɐn"),
    "and": ("ænd", "ənd", "ən"),
    "the": ("ði", "ðə"),
    "but": ("bʌt", "bət"),
    "that": ("ðæt", "ðət"),
    "than": ("ðæn", "ðən"),
    "or": ("ɔɹ", "əɹ"),
    "as": ("æz", "əz"),
    "at": ("æt", "ət"),
    "for": ("fɔɹ", "fəɹ"),
    "from": ("fɹʌm", "fɹəm"),
    "of": ("ʌv", "əv", "ə"),
    "to": ("tu", "tʊ", "tə"),
    "some": ("sʌm", "səm"),
    "there": ("ðɛɹ", "ðəɹ"),
    "his": ("hɪz", "ɪz"),
    "her": ("hɜɹ", "həɹ", "əɹ"),
    "your": ("jɔɹ", "jʊɹ", "jəɹ"),
    "you": ("ju", "jʊ", "jə"),
    "him": ("hɪm", "ɪm"),
    "them": ("ðɛm", "ðəm", "əm"),
    "us": ("ʌs", "əs"),
    "can": ("kæn", "kən"),
    "could": ("kʊd", "kəd"),
    "would": ("wʊd", "wəd", "əd"),
    "should": ("ʃʊd", "ʃəd"),
    "shall": ("ʃæl", "ʃəl"),
    "will": ("wɪl", "əl"),
    "must": ("mʌst", "məst", "məs"),
    "have": ("hæv", "həv", "əv"),
    "has": ("hæz", "həz", "əz"),
    "had": ("hæd", "həd", "əd"),
    "do": ("du", "dʊ", "də"),
    "does": ("dʌz", "dəz"),
    "am": ("æm", "əm"),
    "are": ("ɑɹ", "əɹ"),
    "was": ("wʌz", "wəz"),
    "were": ("wɜɹ", "wəɹ"),
    "be": ("bi", "bɪ"),
    "been": ("bɪn", "bin"),
    "in": ("ɪn",),
    "it": ("ɪt",),
    "is": ("ɪz",),
    "on": ("ɑn", "ɔn"),
}


def is_function_word(token: str) -> bool:
    return token in FUNCTION_WORD_FORMS


def _forms(word: str, fed: str, lexicon: Lexicon) -> set[str]:
    """Every way the function word ``word`` is said (its strong and weak forms, and the lexicon's
    readings), in the fed phonemes' accent."""
    return {f for f in in_fed_accent(fed, {*FUNCTION_WORD_FORMS[word], *lexicon.pronounce((word,))}) if clean(f)}


def _alike(a: set[str], b: set[str]) -> bool:
    return any(same_sound(x, y) for x in a for y in b)


def weak_forms_collide(label: str, heard: Sequence[str], fed: str | None, lexicon: Lexicon) -> bool:
    """Whether the function word ``label`` (a normalized token), fed to Kokoro as ``fed``, can
    sound like each function word in ``heard`` (one per engine that heard another word): a
    form of each heard word within ``SAME_SOUND_MAX`` of the fed phonemes or of a form of the
    label word. False when the fed phonemes are unknown or are not the label word's sound."""
    if not fed or not clean(fed) or not heard or not is_function_word(label):
        return False
    if any(not is_function_word(h) or h == label for h in heard):
        return False
    own = _forms(label, fed, lexicon)
    if not _alike({clean(fed)}, own):
        return False  # Kokoro was asked to say something else: a G2P matter, not a reduction
    said = own | {clean(fed)}
    return all(_alike(said, _forms(h, fed, lexicon)) for h in heard)
