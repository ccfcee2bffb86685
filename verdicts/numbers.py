"""Numbers both ways: digits to the words a TTS front end and a recognizer say, and spoken number
words back to values, so "1865", "eighteen sixty five" and "one thousand eight hundred and sixty
five" can be recognised as the same number.

Example::

    digits_to_words("1865")                      # ("eighteen", "sixty", "five")
    spoken_values(("one", "thousand", "eight", "hundred", "sixty", "five"))  # {(1865, False)}
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from num2words import num2words

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
ORDINAL_UNITS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "sixtieth": 60,
    "seventieth": 70,
    "eightieth": 80,
    "ninetieth": 90,
    "hundredth": 100,
    "thousandth": 1_000,
    "millionth": 1_000_000,
}
# Words that may appear inside a spoken number ("a hundred", "nineteen oh five", "... and six").
GLUE = {"and", "a", "oh"}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | {"hundred"} | frozenset(SCALES)
NUMBER_WORDS |= frozenset(ORDINAL_UNITS)

UNITS_BY_DIGIT = {str(v): k for k, v in UNITS.items()}
_CURRENCY = {"$": ("dollar", "dollars"), "£": ("pound", "pounds"), "€": ("euro", "euros")}
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
_ROMAN_RE = re.compile(r"^m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")

_SMALL_ROMAN = re.compile(r"^[ivxlc]{2,}$")
_INT = re.compile(r"^\d+$")
_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+$")
_ORDINAL = re.compile(r"^(\d[\d,]*)(st|nd|rd|th)$")
_DECADE = re.compile(r"^(\d{2}|\d{4})s$")
_DECIMAL = re.compile(r"^(\d[\d,]*)?\.(\d+)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_MONEY = re.compile(r"^([$£€])(\d[\d,]*)(?:\.(\d{2}))?$")
_PERCENT = re.compile(r"^(\d[\d,]*(?:\.\d+)?)%$")


def _words(spoken: str) -> tuple[str, ...]:
    """num2words text -> tokens: no commas or hyphens, no "and" (US engines leave it out)."""
    tokens = spoken.replace(",", " ").replace("-", " ").split()
    return tuple(t for t in tokens if t != "and")


def cardinal(n: int) -> tuple[str, ...]:
    return _words(num2words(n))


def ordinal(n: int) -> tuple[str, ...]:
    return _words(num2words(n, to="ordinal"))


def year(n: int) -> tuple[str, ...]:
    return _words(num2words(n, to="year"))


def is_year_like(n: int) -> bool:
    """Four-digit numbers read as years ("eighteen sixty five"); 2000-2009 stay cardinal."""
    return 1100 <= n <= 1999 or 2010 <= n <= 2099


def _integer(digits: str) -> tuple[str, ...]:
    n = int(digits.replace(",", ""))
    if "," not in digits and len(digits) == 4 and is_year_like(n):
        return year(n)
    return cardinal(n)


def _plural(token: str) -> str:
    return token[:-1] + "ies" if token.endswith("y") else token + ("es" if token.endswith("x") else "s")


def digits_to_words(token: str) -> tuple[str, ...] | None:
    """Spoken words for a token made of digits (years, ordinals, money, decimals, times,
    percentages, decades), or None when the token is not a number this module reads."""
    if _INT.match(token) or _GROUPED.match(token):
        return _integer(token)
    if m := _ORDINAL.match(token):
        return ordinal(int(m.group(1).replace(",", "")))
    if m := _DECADE.match(token):
        digits = m.group(1)
        words = list(_integer(digits) if len(digits) == 4 else cardinal(int(digits)))
        words[-1] = _plural(words[-1])
        return tuple(words)
    if m := _MONEY.match(token):
        singular, plural = _CURRENCY[m.group(1)]
        amount = int(m.group(2).replace(",", ""))
        words = [*cardinal(amount), singular if amount == 1 else plural]
        if m.group(3) and int(m.group(3)):
            cents = int(m.group(3))
            words += [*cardinal(cents), "cent" if cents == 1 else "cents"]
        return tuple(words)
    if m := _PERCENT.match(token):
        inner = digits_to_words(m.group(1))
        return (*inner, "percent") if inner else None
    if m := _TIME.match(token):
        hours, minutes = int(m.group(1)), int(m.group(2))
        if minutes == 0:
            return (*cardinal(hours), "o'clock")
        tail = ("oh", *cardinal(minutes)) if minutes < 10 else cardinal(minutes)
        return (*cardinal(hours), *tail)
    if m := _DECIMAL.match(token):
        whole = cardinal(int(m.group(1).replace(",", ""))) if m.group(1) else ()
        return (*whole, "point", *(UNITS_BY_DIGIT[d] for d in m.group(2)))
    return None


def roman_value(token: str) -> int | None:
    """Value of a well-formed roman numeral ("iv" -> 4), else None."""
    t = token.lower()
    if not t or not _ROMAN_RE.match(t):
        return None
    total = 0
    for i, ch in enumerate(t):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(t) and _ROMAN[t[i + 1]] > v else v
    return total


# --- spoken words -> values ---------------------------------------------------------------


def _below_hundred(tokens: Sequence[str]) -> int | None:
    """Value of a number below 100 ("sixty five" -> 65, "eighteen" -> 18), else None."""
    if len(tokens) == 1:
        t = tokens[0]
        return UNITS.get(t, TEENS.get(t, TENS.get(t)))
    if len(tokens) == 2 and tokens[0] in TENS and tokens[1] in UNITS and tokens[1] != "zero":
        return TENS[tokens[0]] + UNITS[tokens[1]]
    return None


def _cardinal_value(tokens: Sequence[str]) -> tuple[int, bool] | None:
    """Value of a cardinal or ordinal reading ("one thousand eight hundred and sixty five",
    "a hundred", "forty second"); (value, is_ordinal)."""
    total, group = 0, 0
    last = ""  # class of the previous token: unit/teen/tens/hundred/scale
    is_ordinal = False
    for i, raw in enumerate(tokens):
        if is_ordinal:
            return None  # an ordinal word ends the number
        tok = raw
        if tok in ORDINAL_UNITS:
            is_ordinal = True
            value = ORDINAL_UNITS[tok]
            tok = {100: "hundred", 1000: "thousand", 1_000_000: "million"}.get(value, tok)
            if tok in ORDINAL_UNITS:  # small ordinal: behaves like a unit/teen/tens word
                kind = "tens" if value >= 20 else "teen" if value >= 10 else "unit"
                if last in ("unit", "teen", "tens") and not (last == "tens" and kind == "unit"):
                    return None
                group += value
                last = kind
                continue
        if tok == "and":
            if last not in ("hundred", "scale") or i + 1 == len(tokens):
                return None
            continue
        if tok == "a":
            if i + 1 == len(tokens) or tokens[i + 1] not in ("hundred", *SCALES, "hundredth", "thousandth"):
                return None
            group, last = 1, "unit"
            continue
        if tok in UNITS or tok in TEENS or tok in TENS:
            kind = "unit" if tok in UNITS else "teen" if tok in TEENS else "tens"
            if last in ("unit", "teen") or (last == "tens" and kind != "unit"):
                return None
            group += UNITS.get(tok, TEENS.get(tok, TENS.get(tok, 0)))
            last = kind
        elif tok == "hundred":
            if last not in ("unit", "teen", "tens", ""):
                return None
            group = (group or 1) * 100
            last = "hundred"
        elif tok in SCALES:
            if last == "scale":
                return None
            total += (group or 1) * SCALES[tok]
            group, last = 0, "scale"
        else:
            return None
    if not last:
        return None
    return total + group, is_ordinal


def _year_value(tokens: Sequence[str]) -> int | None:
    """Value of a year reading: "eighteen sixty five", "nineteen oh five", "eighteen hundred",
    "twenty twenty one"."""
    for k in (1, 2):
        head = _below_hundred(tokens[:k])
        rest = tokens[k:]
        if head is None or not 10 <= head <= 29 or not rest:  # years 1000-2999
            continue
        if list(rest) == ["hundred"]:
            return head * 100
        if rest[0] == "oh" and len(rest) == 2 and rest[1] in UNITS and rest[1] != "zero":
            return head * 100 + UNITS[rest[1]]
        tail = _below_hundred(rest)
        if tail is not None and tail >= 10:
            return head * 100 + tail
    return None


def _decimal_value(tokens: Sequence[str]) -> float | None:
    """ "three point one four" -> 3.14, "point five" -> 0.5."""
    k = tokens.index("point")
    whole = _cardinal_value(tokens[:k]) if k else (0, False)
    digits = tokens[k + 1 :]
    if whole is None or whole[1] or not digits or not all(d in UNITS or d == "oh" for d in digits):
        return None
    return whole[0] + float("0." + "".join(str(UNITS.get(d, 0)) for d in digits))


def spoken_values(tokens: Sequence[str]) -> set[tuple[float, bool]]:
    """Every (value, is_ordinal) the tokens can be read as; empty when they are not a number.
    A lone roman numeral of two or more of the letters i, v, x, l, c ("iii", "xiv") counts too,
    as engines write those; m and d are left out so words like "mix" stay words."""
    if len(tokens) == 1 and _SMALL_ROMAN.match(tokens[0]) and (roman := roman_value(tokens[0])) is not None:
        return {(roman, False)}
    if "point" in tokens and all(t in NUMBER_WORDS or t in GLUE or t == "point" for t in tokens):
        decimal = _decimal_value(tokens)
        return {(decimal, False)} if decimal is not None else set()
    if not tokens or not all(t in NUMBER_WORDS or t in GLUE for t in tokens):
        return set()
    values: set[tuple[float, bool]] = set()
    if (card := _cardinal_value(tokens)) is not None:
        values.add(card)
    if (yr := _year_value(tokens)) is not None:
        values.add((yr, False))
    return values


def is_number_word(token: str) -> bool:
    return token in NUMBER_WORDS
