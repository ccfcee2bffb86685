"""The heal ladder: what a chunk whose clip is not kept tries next.

Rungs, in the default order (``DEFAULT_LADDER``); a rung that cannot change anything for a chunk
is passed over, and the same rung may be listed twice (each repeat tries its next variant):

* ``lexicon``: the text fixes of the G2P audit (a letter-spelled dictionary word kept by
  ``--keep-caps`` is read as a word) and the per-book pronunciation lexicon (``--lexicon``),
  applied through misaki's ``[word](/phonemes/)`` override. Applies only when the phonemes change.
* ``stress``: the words of the chunk's first clip that were not heard as written (``tts_failure``,
  ``ambiguous``, ``unverified``) and that Kokoro was fed without stress, read with primary stress: a function
  word in its weak form ("for", "he", "is") that both recognizers heard as another word ("from",
  "you", "was") is said in full; every other word is fed exactly as before. Applies only when
  such a word exists.
* ``respell``: the same not-heard words read the way espeak-ng reads them, where that differs
  from what Kokoro was fed (misaki reads "Ugh" ``ˈʌh``, espeak-ng ``ˈʌɡ``): a second, independent
  G2P's opinion, in misaki's notation; a word of a run in another language
  (``verdicts.languages``) is read by espeak-ng in that language. Every other word is fed exactly
  as before. Applies only when such a word exists.
* ``speed``: a slightly different speaking rate (the int8 ONNX model is deterministic, so a new
  seed alone would give the same audio): ``1 - step``, then ``1 + step``, ``1 - 2 step``, ...
* ``split``: the chunk cut at its best clause boundary into two clips (parts ``a`` and ``b``)
  whose labels, joined by one space, are the chunk's label exactly.
* ``backend``: the other Kokoro backend (torch where the dataset used ONNX, and back), when
  it can run here.

Example::

    next_rung(("lexicon", "respell", "speed", "split"), tried=["speed"], applicable={"speed", "split"})
    # -> Rung("split", variant=0)
    split_label("Alice was not a bit hurt, and she jumped up on to her feet in a moment.")
    # -> ("Alice was not a bit hurt,", "and she jumped up on to her feet in a moment.")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LEXICON = "lexicon"
STRESS = "stress"
RESPELL = "respell"
SPEED = "speed"
SPLIT = "split"
BACKEND = "backend"
CANDIDATE = "candidate"  # a clip of another dataset with the same label (--candidates)
RUNGS = (LEXICON, STRESS, RESPELL, SPEED, SPLIT, BACKEND)
DEFAULT_LADDER = RUNGS
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_SPEED_STEP = 0.08

# Boundary after a token: lower is better; the distance from the middle is added.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[;:—][\"'”’)\]]*$")
_COMMA_END = re.compile(r",[\"'”’)\]]*$")
_HAS_LETTER = re.compile(r"\w")
PENALTY = {"sentence": 0.0, "clause": 0.1, "comma": 0.2, "word": 0.6}


@dataclass(frozen=True, slots=True)
class Rung:
    step: str  # one of RUNGS
    variant: int  # how many times this step was tried before for the chunk


def parse_ladder(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"lexicon,stress,respell,speed,split,backend"`` (or a list) -> the rungs; ValueError naming a bad one."""
    if spec is None:
        return DEFAULT_LADDER
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in RUNGS]
    if unknown or not names:
        raise ValueError(f"ladder {spec!r}: rungs are {', '.join(RUNGS)} (comma-separated, repeatable)")
    return tuple(names)


def next_rung(ladder: Sequence[str], tried: Iterable[str], applicable: set[str]) -> Rung | None:
    """The first rung of ``ladder`` not yet used by the chunk's attempts (``tried``: their steps)
    and ``applicable`` to it; None when the ladder is done. Counting per step makes this a pure
    function of what is stored, so a rerun picks up where a killed run stopped."""
    left: dict[str, int] = {}
    for step in tried:
        left[step] = left.get(step, 0) + 1
    seen: dict[str, int] = {}
    for step in ladder:
        variant = seen.get(step, 0)
        seen[step] = variant + 1
        if left.get(step, 0) > 0:
            left[step] -= 1
            continue
        if step in applicable:
            return Rung(step, variant)
    return None


def speed_for(base: float, variant: int, step: float = DEFAULT_SPEED_STEP) -> float:
    """The ``variant``-th speed of the speed rung: base*(1-step), base*(1+step), base*(1-2 step), ..."""
    k = variant // 2 + 1
    factor = 1 - k * step if variant % 2 == 0 else 1 + k * step
    return round(base * factor, 4)


def _boundary(token: str) -> str:
    if _SENTENCE_END.search(token):
        return "sentence"
    if _CLAUSE_END.search(token):
        return "clause"
    if _COMMA_END.search(token):
        return "comma"
    return "word"


def split_label(text: str) -> tuple[str, str] | None:
    """``text`` cut in two at its best clause boundary: a sentence end, else ``;``/``:``/dash,
    else a comma, else between words, the one nearest the middle (by characters) winning within
    a kind. ``a + " " + b == " ".join(text.split())``; None when there is nothing to cut (fewer
    than two words, or a half would hold no word)."""
    tokens = text.split()
    if len(tokens) < 2:
        return None
    total = len(" ".join(tokens))
    best: tuple[float, int] | None = None
    length = 0
    for i in range(1, len(tokens)):
        length += len(tokens[i - 1]) + (1 if i > 1 else 0)
        left, right = tokens[:i], tokens[i:]
        if not any(_HAS_LETTER.search(t) for t in left) or not any(_HAS_LETTER.search(t) for t in right):
            continue
        score = PENALTY[_boundary(tokens[i - 1])] + abs(length - total / 2) / total
        if best is None or score < best[0]:
            best = (score, i)
    if best is None:
        return None
    return " ".join(tokens[: best[1]]), " ".join(tokens[best[1] :])
