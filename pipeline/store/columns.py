"""Which stage owns which ``audio_quality`` columns.

An upsert names its group; it sets the group's columns that its rows carry (a column the rows
leave out keeps its value) and fills identity columns only where it knows them (``COALESCE``),
so a MOS-only rerun never blanks ASR results and a validate run on a foreign dataset never
erases the voice a generate run recorded. ``metadata`` merges (``||``).
"""

from __future__ import annotations

from pipeline.signal import METRIC_KEYS as SIGNAL_METRICS

KEY = ("file_hash", "dataset")

IDENTITY = (
    "clip_id",
    "path",
    "text",
    "book",
    "chapter_index",
    "chunk_index",
    "kind",
    "voice",
    "voice_recipe",
    "speed",
    "seed",
    "tts_engine",
    "tts_model",
    "tts_version",
)

AUDIO = ("duration_s", "sample_rate")

VERDICT_NAMES = (
    "pass",
    "stt_error",
    "secondary_error",
    "tts_failure",
    "ambiguous",
    "unverified",
    "homophone",
    "compound",
    "spelling_variant",
    "filler_word",
    "abbreviation",
    "gt_typo",
    "gt_error",
)


def _asr(prefix: str) -> tuple[str, ...]:
    columns = ("engine", "model", "text", "wer", "conf_mean", "conf_min", "conf_calibrated", "ms")
    return tuple(f"{prefix}_{c}" for c in columns)


GROUPS: dict[str, tuple[str, ...]] = {
    "audio": AUDIO,
    "generation": (
        "gen_ms",
        "gen_rtf",
        "gen_device",
        "phonemes",
        "word_phonemes",
        "g2p_flags",
        "g2p_details",
        "word_times",
        *AUDIO,
        "attempt",
        "chunk_part",
        "heal_step",
    ),
    "primary": _asr("primary"),
    "secondary": _asr("secondary"),
    "verdicts": (
        "n_words",
        *(f"n_{v}" for v in VERDICT_NAMES),
        "n_insertions",
        "n_confirmed_insertions",
        "adjusted_wer",
        "escalated",
        "escalation_reason",
        "tier",
        "keep",
        "reject_reasons",
        "validate_error",
        "labeled",
    ),
    "mos": (
        "mos_dnsmos_sig",
        "mos_dnsmos_bak",
        "mos_dnsmos_ovrl",
        "mos_dnsmos_p808",
        "mos_distillmos",
        "mos_utmosv2",
        "mos_scoreq_synthetic",
        "mos_scoreq_natural",
        "mos_nisqa",
        "mos_nisqa_noi",
        "mos_nisqa_dis",
        "mos_nisqa_col",
        "mos_nisqa_loud",
        "composite_mos",
        "mos_judges",
        "mos_seed",
        "mos_ms",
    ),
    # The clip checks (pipeline.clip_checks): speaker similarity, DSP, timing and G2P reasons.
    "checks": ("speaker_similarity", "clip_reasons", "clip_checks"),
    # Heal's selection (pipeline.heal.selection): the take of each (chunk, voice) that ships.
    "selection": ("selected",),
    # The signal step writes exactly what pipeline.signal computes (duration and rate included).
    "signal": SIGNAL_METRICS,
}

JSON_COLUMNS = frozenset(
    {"mos_ms", "versions", "config", "metadata", "g2p_details", "word_times", "clip_checks", "fingerprints"}
)
# Merged into the existing value (jsonb ||) instead of replacing it: a scan that writes some
# groups merges their fingerprints and leaves the other groups' fingerprints as they were.
MERGED_JSON = ("versions", "config", "metadata", "fingerprints")


def columns_for(group: str) -> tuple[str, ...]:
    if group not in GROUPS:
        raise KeyError(f"unknown column group {group!r}; known: {', '.join(GROUPS)}")
    return GROUPS[group]


# ``audio_words``: one row per label word (and per inserted word) of a validated clip.
WORD_COLUMNS = (
    "file_hash",
    "dataset",
    "word_index",
    "label_word",
    "norm_word",
    "primary_word",
    "secondary_word",
    "verdict",
    "rule",
    "start_s",
    "end_s",
    "confidence",
    "position",
    "fed_phonemes",
)


# ``audio_transcripts``: each engine's words per clip (role = primary | secondary).
TRANSCRIPT_COLUMNS = (
    "file_hash", "dataset", "role", "engine", "model", "text", "words", "error", "ms", "fingerprint", "label_probs",
    "listens", "repeats",
)  # fmt: skip
