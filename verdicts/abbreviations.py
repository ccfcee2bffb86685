"""Abbreviations: the few that normalization expands on both sides (titles such as Mr, Dr, St,
plus etc. and &) and the wider table the ``abbreviation`` rule accepts (units, ambiguous
expansions, spelled-out letters).

Normalization writes the first spoken form; the rule accepts any of them. So "Mr." against
"mister" passes (nothing to review), while "St." (normalized "saint") against "street", or "mph"
against "miles per hour", is an ``abbreviation`` verdict.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Abbreviation:
    written: str  # casefolded, dots removed: "mr", "eg", "&c"
    spoken: tuple[tuple[str, ...], ...]  # accepted spoken forms; the first is the normalized one
    normalize: bool  # expanded by normalization on both sides (else only the rule knows it)
    needs_period: bool = False  # only when written with a dot ("Col." yes, "col" no)


def _a(written: str, *spoken: str, normalize: bool = False, needs_period: bool = False) -> Abbreviation:
    return Abbreviation(written, tuple(tuple(s.split()) for s in spoken), normalize, needs_period)


ABBREVIATIONS: tuple[Abbreviation, ...] = (
    # titles and the like: expanded by normalization
    _a("mr", "mister", normalize=True),
    _a("mrs", "missus", "misses", normalize=True),
    _a("ms", "miz", normalize=True),
    _a("messrs", "messieurs", normalize=True),
    _a("dr", "doctor", "drive", normalize=True),
    _a("st", "saint", "street", normalize=True),  # context picks: "St. Paul" saint, "Baker St." street
    _a("jr", "junior", normalize=True),
    _a("sr", "senior", normalize=True),
    _a("prof", "professor", normalize=True, needs_period=True),
    _a("capt", "captain", normalize=True, needs_period=True),
    _a("col", "colonel", normalize=True, needs_period=True),
    _a("gen", "general", normalize=True, needs_period=True),
    _a("lt", "lieutenant", normalize=True, needs_period=True),
    _a("sgt", "sergeant", normalize=True, needs_period=True),
    _a("rev", "reverend", normalize=True, needs_period=True),
    _a("gov", "governor", normalize=True, needs_period=True),
    _a("hon", "honourable", "honorable", normalize=True, needs_period=True),
    _a("mt", "mount", "mountain", normalize=True, needs_period=True),
    _a("esq", "esquire", normalize=True, needs_period=True),
    _a("mme", "madame", normalize=True),
    _a("mlle", "mademoiselle", normalize=True),
    _a("no", "number", normalize=True, needs_period=True),  # only before a numeral (see normalize)
    _a("nos", "numbers", normalize=True, needs_period=True),
    _a("vs", "versus", normalize=True),
    _a("etc", "et cetera", "etcetera", "and so on", normalize=True),
    _a("&c", "et cetera", "etcetera", "and so on", normalize=True),
    _a("etcetera", "et cetera", normalize=True),
    _a("&", "and", normalize=True),
    _a("eg", "for example", "e g", normalize=True, needs_period=True),
    _a("ie", "that is", "i e", normalize=True, needs_period=True),
    # units, places, initialisms: only the rule knows them (a TTS may say either form)
    _a("mph", "miles per hour", "miles an hour", "m p h"),
    _a("kph", "kilometres per hour", "kilometers per hour", "k p h"),
    _a("km", "kilometres", "kilometers", "kilometre", "kilometer", "k m"),
    _a("cm", "centimetres", "centimeters", "centimetre", "centimeter"),
    _a("mm", "millimetres", "millimeters", "millimetre", "millimeter"),
    _a("kg", "kilograms", "kilogram", "kilos", "kilo"),
    _a("lb", "pounds", "pound"),
    _a("lbs", "pounds", "pound"),
    _a("oz", "ounces", "ounce"),
    _a("ft", "feet", "foot", "fort"),
    _a("yd", "yards", "yard"),
    _a("yds", "yards"),
    _a("hr", "hours", "hour"),
    _a("hrs", "hours"),
    _a("min", "minutes", "minute", needs_period=True),
    _a("sec", "seconds", "second", needs_period=True),
    _a("ave", "avenue"),
    _a("rd", "road"),
    _a("blvd", "boulevard"),
    _a("co", "company", needs_period=True),
    _a("dept", "department"),
    _a("govt", "government"),
    _a("approx", "approximately"),
    _a("vol", "volume"),
    _a("ch", "chapter", needs_period=True),
    _a("tv", "television", "t v"),
    _a("ok", "okay"),
    _a("usa", "united states", "united states of america", "u s a"),
    _a("us", "united states", "u s", needs_period=True),
    _a("uk", "united kingdom", "u k"),
    _a("am", "a m", needs_period=True),
    _a("pm", "p m", needs_period=True),
)

BY_WRITTEN: dict[str, Abbreviation] = {a.written: a for a in ABBREVIATIONS}
NORMALIZED: dict[str, Abbreviation] = {a.written: a for a in ABBREVIATIONS if a.normalize}


def abbreviation_key(word: str) -> tuple[str, bool]:
    """("mr", True) for "Mr.": the casefolded word without edge punctuation and dots, and
    whether it was written with a dot."""
    core = word.strip("\"'“”‘’()[]{}<>_*,;:!?").casefold()
    has_period = "." in core
    return core.replace(".", ""), has_period


def lookup(word: str, *, normalizing: bool) -> Abbreviation | None:
    """The table entry a label word writes, if any (only normalized ones when ``normalizing``)."""
    key, has_period = abbreviation_key(word)
    entry = (NORMALIZED if normalizing else BY_WRITTEN).get(key)
    if entry is None or (entry.needs_period and not has_period):
        return None
    return entry


def spoken_forms(token: str) -> tuple[tuple[str, ...], ...]:
    """Spoken forms of a single normalized token that is itself an abbreviation ("mph")."""
    entry = BY_WRITTEN.get(token)
    return entry.spoken if entry is not None and not entry.needs_period else ()
