"""Every rule id a verdict can carry, as stored in ``audio_words.rule``: grep an id found in the
database to land here, then grep the constant's name to find the rule that fires it.

An id is ``<verdict>.<why>``. Rules whose reason comes from a lookup (which spelling pattern,
which pronunciation source, which engine heard the extra words) pick their id from the tables
at the bottom, never by building the string.
"""

from __future__ import annotations

# --- both engines agree with the label ---------------------------------------------------------
PASS_EXACT = "pass.exact"

# --- one engine wrong, the other right (exactly, or for a reason a rule knows) ------------------
STT_ERROR_SECONDARY_EXACT = "stt_error.secondary_exact"
STT_ERROR_SECONDARY_EXPLAINED = "stt_error.secondary_explained"
SECONDARY_ERROR_PRIMARY_EXACT = "secondary_error.primary_exact"
SECONDARY_ERROR_PRIMARY_EXPLAINED = "secondary_error.primary_explained"
# every engine that heard another word, forced to read the label, finds the label word plausible
STT_ERROR_LABEL_PLAUSIBLE = "stt_error.label_plausible"
# a rare word (Zipf < 3) every engine heard as a more common word that sounds near the fed phonemes
STT_ERROR_RARE_WORD_NEAR = "stt_error.rare_word_near"
# a word of a run in another language the engine heard when it listened again in that language
STT_ERROR_HEARD_IN_LANGUAGE = "stt_error.heard_in_language"

# --- both engines wrong, or only one engine ran -------------------------------------------------
TTS_FAILURE_BOTH_MISSING = "tts_failure.both_missing"
TTS_FAILURE_SAME_WORD = "tts_failure.same_word"
TTS_FAILURE_SAME_SOUND = "tts_failure.same_sound"
TTS_FAILURE_SPELLED_OUT = "tts_failure.spelled_out"  # letters one by one for a word that is no acronym
AMBIGUOUS_DIFFERENT_WORDS = "ambiguous.different_words"
UNVERIFIED_SINGLE_ENGINE = "unverified.single_engine"

# --- block rules: a harmless, known cause -------------------------------------------------------
FILLER_WORD_OMITTED = "filler_word.omitted"
FILLER_WORD_INSERTED = "filler_word.inserted"
FILLER_WORD_SUBSTITUTED = "filler_word.substituted"
ABBREVIATION_NUMBER = "abbreviation.number"
ABBREVIATION_EXPANSION = "abbreviation.expansion"
ABBREVIATION_LETTERS = "abbreviation.letters"
COMPOUND_MERGED = "compound.merged"
COMPOUND_SPLIT = "compound.split"
COMPOUND_RESEGMENTED = "compound.resegmented"
# Adjacent label words that every engine heard as other words whose sounds are the fed phonemes of
# the run ("in sight" fed ɪn sˈIt, heard "inside"): the word boundaries moved, not the speech.
COMPOUND_SOUNDS_AS_FED = "compound.sounds_as_fed"
HOMOPHONE_CMUDICT = "homophone.cmudict"
HOMOPHONE_G2P = "homophone.g2p"
# A function word every engine heard as another function word whose weak form sounds like it ("an"
# heard "and", "have" heard "of"): a listener's grammar tells them apart, not the sound.
HOMOPHONE_WEAK_FORM = "homophone.weak_form"
# A word every engine heard with a final t or d added or dropped, where running speech hides it:
# after a consonant, before a word that starts with one ("save the" heard "saved the").
HOMOPHONE_TD_BOUNDARY = "homophone.td_boundary"
# A word every engine heard as one whose pronunciation is the fed sound of the label word ("née" fed
# nˈA heard "nay"), though the dictionaries do not list the two as alike.
HOMOPHONE_AS_FED = "homophone.as_fed"
SPELLING_VARIANT_LIST = "spelling_variant.list"
SPELLING_VARIANT_OUR_OR = "spelling_variant.our_or"
SPELLING_VARIANT_ISE_IZE = "spelling_variant.ise_ize"
SPELLING_VARIANT_YSE_YZE = "spelling_variant.yse_yze"
SPELLING_VARIANT_RE_ER = "spelling_variant.re_er"
SPELLING_VARIANT_ENCE_ENSE = "spelling_variant.ence_ense"
SPELLING_VARIANT_OGUE_OG = "spelling_variant.ogue_og"
SPELLING_VARIANT_AE_E = "spelling_variant.ae_e"
SPELLING_VARIANT_DGEMENT = "spelling_variant.dgement"
SPELLING_VARIANT_LL_L = "spelling_variant.ll_l"
SPELLING_VARIANT_APOSTROPHE = "spelling_variant.apostrophe"
SPELLING_VARIANT_CONTRACTION = "spelling_variant.contraction"  # "I've" written "I have", or the reverse
# A proper noun or unknown word heard as another spelling of the phonemes Kokoro was fed.
SPELLING_VARIANT_PHONEMES_NEAR = "spelling_variant.phonemes_near"

# --- the label itself is wrong ------------------------------------------------------------------
GT_TYPO_EDIT_DISTANCE = "gt_typo.edit_distance"
GT_ERROR_MISSING_SPACE = "gt_error.missing_space"
GT_ERROR_MARKUP = "gt_error.markup"

# --- insertion rows (engine words with no label word under them) --------------------------------
INSERTION_BOTH_ENGINES = "insertion.both_engines"
INSERTION_PRIMARY_ONLY = "insertion.primary_only"
INSERTION_SECONDARY_ONLY = "insertion.secondary_only"
INSERTION_SINGLE_ENGINE = "insertion.single_engine"  # only one engine ran
# Extra words one engine of two heard that repeat a short phrase three or more times in a row
# (the label saying it once at most): that engine's decoder looping, a recognizer mistake.
INSERTION_DECODER_LOOP = "insertion.decoder_loop"
# A word or two said twice that an engine wrote once but, forced to choose between the label and
# the label with them doubled, heard twice (``Hypothesis.repeats``): every engine that ran heard
# the repeat (written or forced), or one engine of two did.
INSERTION_REPEAT_FORCED = "insertion.repeat_forced"
INSERTION_REPEAT_FORCED_ONE_ENGINE = "insertion.repeat_forced_one_engine"

# --- ids chosen by lookup -----------------------------------------------------------------------
# ``verdicts.variants.variant_rule`` names -> rule id.
SPELLING_VARIANT_BY_PATTERN: dict[str, str] = {
    "list": SPELLING_VARIANT_LIST,
    "our_or": SPELLING_VARIANT_OUR_OR,
    "ise_ize": SPELLING_VARIANT_ISE_IZE,
    "yse_yze": SPELLING_VARIANT_YSE_YZE,
    "re_er": SPELLING_VARIANT_RE_ER,
    "ence_ense": SPELLING_VARIANT_ENCE_ENSE,
    "ogue_og": SPELLING_VARIANT_OGUE_OG,
    "ae_e": SPELLING_VARIANT_AE_E,
    "dgement": SPELLING_VARIANT_DGEMENT,
    "ll_l": SPELLING_VARIANT_LL_L,
}
# ``Lexicon.sounds_alike`` answers -> rule id.
HOMOPHONE_BY_SOURCE: dict[str, str] = {"cmudict": HOMOPHONE_CMUDICT, "g2p": HOMOPHONE_G2P}
# ``rules.same_way`` answers -> rule id.
TTS_FAILURE_BY_AGREEMENT: dict[str, str] = {"same_word": TTS_FAILURE_SAME_WORD, "same_sound": TTS_FAILURE_SAME_SOUND}
# The engine that alone heard unexplained extra words -> rule id.
INSERTION_BY_ENGINE: dict[str, str] = {"primary": INSERTION_PRIMARY_ONLY, "secondary": INSERTION_SECONDARY_ONLY}

RULE_IDS: frozenset[str] = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)
)
