"""The keep decision of one validated clip: the words' reasons (``verdicts.keep``) plus every
other source's. This is the one function that puts ``audio_quality.keep``, ``tier`` and
``reject_reasons`` together; a new check adds its reason ids to ``ClipResult.reasons`` (or a
source here) and they land in the same list.

Example::

    decision = clip_decision(result)
    decision.keep, decision.reasons, decision.tier     # (False, ('insertion', 'low_mos'), 'reject')
"""

from __future__ import annotations

from pipeline.records import ClipResult
from verdicts.keep import LOW_MOS, KeepDecision, with_reasons


def clip_decision(result: ClipResult) -> KeepDecision | None:
    """None for a clip with no verdicts (it could not be validated: ``validate_error`` says why)."""
    if result.verdicts is None:
        return None
    mos = (LOW_MOS,) if result.mos_rejected else ()
    return with_reasons(result.verdicts.summary.decision, mos, result.reasons)
