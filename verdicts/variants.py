"""Accepted spelling variants: British/US patterns plus a short list of irregular pairs.

Pattern rules only fire when both spellings are real words (so "filled"/"filed" or
"four"/"for" never count as variants); the list needs no such check.

Example::

    variant_rule("colour", "color", lexicon.is_word, lexicon.is_listed)   # "our_or"
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Irregular pairs (either order). Archaic and informal forms that books use and recognizers
# modernise are included ("shew"/"show", "connexion"/"connection", "’em"/"them").
VARIANT_PAIRS: tuple[tuple[str, str], ...] = (
    ("grey", "gray"),
    ("greys", "grays"),
    ("greyish", "grayish"),
    ("tyre", "tire"),
    ("tyres", "tires"),
    ("kerb", "curb"),
    ("plough", "plow"),
    ("ploughed", "plowed"),
    ("programme", "program"),
    ("programmes", "programs"),
    ("cheque", "check"),
    ("cheques", "checks"),
    ("draught", "draft"),
    ("draughts", "drafts"),
    ("mould", "mold"),
    ("mouldy", "moldy"),
    ("moult", "molt"),
    ("smoulder", "smolder"),
    ("smouldering", "smoldering"),
    ("moustache", "mustache"),
    ("pyjamas", "pajamas"),
    ("sceptic", "skeptic"),
    ("sceptical", "skeptical"),
    ("aluminium", "aluminum"),
    ("storey", "story"),
    ("storeys", "stories"),
    ("whisky", "whiskey"),
    ("cosy", "cozy"),
    ("doughnut", "donut"),
    ("practise", "practice"),
    ("practised", "practiced"),
    ("gaol", "jail"),
    ("waggon", "wagon"),
    ("axe", "ax"),
    ("manoeuvre", "maneuver"),
    ("jewellery", "jewelry"),
    ("speciality", "specialty"),
    ("aeroplane", "airplane"),
    ("sulphur", "sulfur"),
    ("connexion", "connection"),
    ("shew", "show"),
    ("shewed", "showed"),
    ("shewn", "shown"),
    ("shewing", "showing"),
    ("learnt", "learned"),
    ("spelt", "spelled"),
    ("dreamt", "dreamed"),
    ("burnt", "burned"),
    ("leant", "leaned"),
    ("leapt", "leaped"),
    ("spoilt", "spoiled"),
    ("smelt", "smelled"),
    ("dwelt", "dwelled"),
    ("knelt", "kneeled"),
    ("okay", "ok"),
    ("alright", "all right"),
    ("fulfil", "fulfill"),
    ("skilful", "skillful"),
    ("wilful", "willful"),
    ("enrol", "enroll"),
    ("instalment", "installment"),
    ("distil", "distill"),
    ("towards", "toward"),
    ("afterwards", "afterward"),
    ("mum", "mom"),
    ("cancelation", "cancellation"),
    # Informal and dialect forms written as said, which recognizers write in the standard form
    # (the fed phonemes are the informal ones: the speech is right).
    ("em", "them"),  # ’em
    ("yer", "your"),
    ("yer", "you're"),
    ("afore", "before"),
    ("till", "until"),
    ("til", "until"),  # ’til
)
_PAIRS: frozenset[frozenset[str]] = frozenset(frozenset(p) for p in VARIANT_PAIRS)

_OUR_EXCEPTIONS = frozenset({"four", "pour", "tour", "your", "hour", "sour", "dour", "flour", "scour", "amour"})
_CONSONANT = "bcdfghjklmnpqrstvwxz"


def _our_or(gb: str, us: str) -> bool:
    if gb in _OUR_EXCEPTIONS or len(gb) < 5:
        return False
    for m in re.finditer("our", gb):
        if m.start() >= 2 and gb[: m.start()] + "or" + gb[m.end() :] == us:
            return True
    return False


def _suffix_swap(gb: str, us: str, gb_mark: str, us_mark: str, suffixes: tuple[str, ...], min_stem: int) -> bool:
    for suffix in suffixes:
        if gb.endswith(gb_mark + suffix) and us.endswith(us_mark + suffix):
            stem_gb = gb[: len(gb) - len(gb_mark + suffix)]
            stem_us = us[: len(us) - len(us_mark + suffix)]
            if stem_gb == stem_us and len(stem_gb) >= min_stem:
                return True
    return False


_IZE_SUFFIXES = ("e", "es", "ed", "ing", "er", "ers", "ation", "ations", "able", "ational")


def _ise_ize(gb: str, us: str) -> bool:
    return _suffix_swap(gb, us, "is", "iz", _IZE_SUFFIXES, 2)


def _yse_yze(gb: str, us: str) -> bool:
    return _suffix_swap(gb, us, "ys", "yz", ("e", "es", "ed", "ing", "er", "ers"), 2)


def _re_er(gb: str, us: str) -> bool:
    for gb_end, us_end in (("re", "er"), ("res", "ers"), ("red", "ered"), ("ring", "ering")):
        if gb.endswith(gb_end) and us.endswith(us_end):
            stem = gb[: -len(gb_end)]
            if stem == us[: -len(us_end)] and len(stem) >= 3 and stem[-1] in _CONSONANT:
                return True
    return False


def _ll_l(gb: str, us: str, is_word: Callable[[str], bool], is_listed: Callable[[str], bool]) -> bool:
    """travelled/traveled: the base has one l ("travel"), and a doubled base is not a listed word
    (so filled/filed, whose base is "fill", is not a variant)."""
    for suffix in ("ed", "ing", "er", "ers", "or", "ors", "ery"):
        if gb.endswith("ll" + suffix) and us.endswith("l" + suffix):
            stem = gb[: -len("ll" + suffix)]
            if (
                stem == us[: -len("l" + suffix)]
                and len(stem) >= 3
                and is_word(stem + "l")
                and not is_listed(stem + "ll")
            ):
                return True
    return False


def _ence_ense(gb: str, us: str) -> bool:
    return _suffix_swap(gb, us, "enc", "ens", ("e", "es"), 3)


def _ogue_og(gb: str, us: str) -> bool:
    return _suffix_swap(gb, us, "ogue", "og", ("", "s"), 3)


def _ae_oe_e(gb: str, us: str) -> bool:
    for digraph in ("ae", "oe"):
        for m in re.finditer(digraph, gb):
            if m.start() >= 1 and gb[: m.start()] + "e" + gb[m.end() :] == us:
                return True
    return False


def _dgement(gb: str, us: str) -> bool:
    return _suffix_swap(gb, us, "dgement", "dgment", ("", "s"), 1)


PatternRule = Callable[[str, str], bool]
PATTERN_RULES: tuple[tuple[str, PatternRule], ...] = (
    ("our_or", _our_or),
    ("ise_ize", _ise_ize),
    ("yse_yze", _yse_yze),
    ("re_er", _re_er),
    ("ence_ense", _ence_ense),
    ("ogue_og", _ogue_og),
    ("ae_e", _ae_oe_e),
    ("dgement", _dgement),
)


# Interjections: recognizers spell them as they like ("Ahem" -> "a hum", "Hmm" -> "hm"), so, like
# names, they are judged by how close what was heard sounds to what Kokoro was fed.
INTERJECTIONS = frozenset(
    """ah aha ahem ahoy alas bah boo eh er ha hah hallo halloa hem hey hist hm hmm ho hoy huh hullo
    hum humph hurrah hurray hush mm oh oho ooh oops ouch ow pah phew pish pooh pshaw psst sh shh
    tush tut uh ugh um whew whoa wow yah yo""".split()
)


def variant_rule(
    a: str, b: str, is_word: Callable[[str], bool], is_listed: Callable[[str], bool] | None = None
) -> str | None:
    """The name of the variant rule relating spellings ``a`` and ``b`` (either order), or None.
    Multi-word entries of the list are space-joined ("all right"). ``is_word`` accepts
    inflections; ``is_listed`` (default: ``is_word``) is the strict, curated word list."""
    is_listed = is_listed or is_word
    if a == b:
        return None
    if frozenset((a, b)) in _PAIRS:
        return "list"
    if " " in a or " " in b or not (is_word(a) and is_word(b)):
        return None
    for name, rule in PATTERN_RULES:
        if rule(a, b) or rule(b, a):
            return name
    if _ll_l(a, b, is_word, is_listed) or _ll_l(b, a, is_word, is_listed):
        return "ll_l"
    return None
