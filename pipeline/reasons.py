"""Reason ids of the clip checks (G2P audit, DSP sanity, timing cross-check, speaker similarity):
each one names a reason a clip is not kept, stored in ``audio_quality.clip_reasons`` and carried
by ``ClipResult.reasons`` for the keep decision. Grepping a stored id finds its constant here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pipeline.tts.g2p_audit import (
    G2P_HETERONYM_DISPUTED,
    G2P_LETTER_SPELLING,
    G2P_NO_PHONEMES,
    G2P_OUT_OF_VOCAB,
    G2P_UNKNOWN_MARKER,
)

if TYPE_CHECKING:
    pass

SPEAKER_DRIFT = "speaker_drift"  # speaker embedding far from the voice's reference
CLIPPING = "clipping"  # too many samples at full scale
LONG_SILENCE = "long_silence"  # a pause inside the speech longer than the threshold
LEADING_SILENCE = "leading_silence"  # silence before the speech starts longer than the threshold
TRAILING_SILENCE = "trailing_silence"  # silence after the speech ends longer than the threshold
TRUNCATED = "truncated"  # the speech stops well before Kokoro's predicted end of the last word
TIMING_MISMATCH = "timing_mismatch"  # a word heard far from its predicted time
G2P_LETTER_SPELLED = "g2p_letter_spelling"  # a dictionary word spelled letter by letter (not fixed)
G2P_SILENT_WORD = "g2p_no_phonemes"  # a word the G2P gave no phonemes
G2P_UNKNOWN = "g2p_unknown_marker"  # misaki's unknown marker in the phonemes
G2P_OUT_OF_VOCABULARY = "g2p_out_of_vocab"  # phoneme symbols Kokoro's vocabulary lacks
G2P_HETERONYM = "g2p_heteronym"  # a heteronym fed a reading another tagger disputes, espeak-ng not siding with it

CLIP_REASONS = (
    SPEAKER_DRIFT,
    CLIPPING,
    LONG_SILENCE,
    LEADING_SILENCE,
    TRAILING_SILENCE,
    TRUNCATED,
    TIMING_MISMATCH,
    G2P_LETTER_SPELLED,
    G2P_SILENT_WORD,
    G2P_UNKNOWN,
    G2P_OUT_OF_VOCABULARY,
    G2P_HETERONYM,
)

# G2P audit rule -> reason, for findings the audit did not fix. ``g2p.heteronym_uncertain`` (as many
# opinions for the fed reading as against it) is for review only, so it is no reason.
G2P_REASONS = {
    G2P_LETTER_SPELLING: G2P_LETTER_SPELLED,
    G2P_NO_PHONEMES: G2P_SILENT_WORD,
    G2P_UNKNOWN_MARKER: G2P_UNKNOWN,
    G2P_OUT_OF_VOCAB: G2P_OUT_OF_VOCABULARY,
    G2P_HETERONYM_DISPUTED: G2P_HETERONYM,
}


def g2p_reasons(flags: Iterable[dict]) -> list[str]:
    """Reasons from a clip's G2P audit findings (``AudioRecord.g2p_flags``): unfixed ones only."""
    return sorted({G2P_REASONS[f["rule"]] for f in flags if not f.get("fixed") and f["rule"] in G2P_REASONS})
