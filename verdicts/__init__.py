"""Verdicts: text normalization, word alignment and per-word verdict rules (see SPEC "validate").

Example::

    from verdicts import Hypothesis, judge_words
    fv = judge_words("The tale ends.", Hypothesis("parakeet", "the tail ends"), None)
    fv.words[1].verdict, fv.words[1].rule     # ('homophone', 'homophone.cmudict')
    fv.summary.adjusted_wer                   # 0.0
"""

from verdicts.align import Alignment, AlignOp, align, word_error_rate
from verdicts.calibration import Calibration
from verdicts.classify import judge_words
from verdicts.keep import KeepDecision, decide, reject_reasons
from verdicts.lexicon import Lexicon, default_lexicon
from verdicts.names import COUNTED_VERDICTS, INSERTION, VERDICT_NAMES, Verdict
from verdicts.normalize import Normalized, normalize, normalize_words
from verdicts.reading import read_engine
from verdicts.records import Explanation, FileVerdicts, Hypothesis, Insertion, Word, WordVerdict
from verdicts.summary import FileSummary, Thresholds, decide_keep, should_escalate, tier_for

__all__ = [
    "COUNTED_VERDICTS",
    "INSERTION",
    "VERDICT_NAMES",
    "AlignOp",
    "Calibration",
    "Alignment",
    "Explanation",
    "FileSummary",
    "FileVerdicts",
    "Hypothesis",
    "Insertion",
    "KeepDecision",
    "Lexicon",
    "Normalized",
    "Thresholds",
    "Verdict",
    "Word",
    "WordVerdict",
    "align",
    "decide",
    "decide_keep",
    "default_lexicon",
    "judge_words",
    "normalize",
    "normalize_words",
    "read_engine",
    "reject_reasons",
    "should_escalate",
    "tier_for",
    "word_error_rate",
]
