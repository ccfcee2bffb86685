"""The mapping from pipeline results to rows: a generated clip (``AudioRecord``) to its identity +
generation columns, a validated clip (``ClipResult``) to its ``audio_quality`` column groups and
its ``audio_words`` rows. The store owns this mapping; stages only produce typed results."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from pipeline.calibration import calibration_for
from pipeline.keep import clip_decision
from pipeline.records import AudioRecord, ClipResult
from pipeline.store.columns import GROUPS, WORD_COLUMNS
from pipeline.store.transcripts import transcript_row

# The groups the verdict rules decide (the verdicts read the transcripts; WER and calibrated
# confidence per engine follow the verdicts; the timing checks read the verdict words): what a
# re-verdict rewrites.
VERDICT_OUTPUT_GROUPS = ("verdicts", "primary", "secondary", "checks")
# Columns of those groups that say how, not what, or which clip (the same decisions under another
# dataset name digest the same): left out of the digest of what was decided.
_NOT_DECIDED = frozenset({"fingerprints", "primary_ms", "secondary_ms", "file_hash", "dataset"})
# The word-row columns that say what was decided (values in this order, so a digest does not
# sort the keys of every word row).
_DECIDED_WORD_COLUMNS = tuple(c for c in WORD_COLUMNS if c not in _NOT_DECIDED)
# The fingerprints key holding the digest of the decided columns and word rows.
VERDICT_OUTPUT_KEY = "verdict_output"
# The digest's JSON: keys sorted, numpy scalars as numbers (a live result and its stored copy
# digest alike).
_DIGEST_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def verdict_output_digest(groups: dict[str, dict[str, Any]], words: list[dict[str, Any]]) -> str:
    """A digest of what the verdict rules decided for a clip (its verdict-group columns and word
    rows): equal digests mean a re-verdict would write exactly what is stored."""
    decided = {
        g: {k: v for k, v in groups[g].items() if k not in _NOT_DECIDED} for g in VERDICT_OUTPUT_GROUPS if g in groups
    }
    rows = [[w[c] for c in _DECIDED_WORD_COLUMNS] for w in words]
    blob = orjson.dumps([decided, _DECIDED_WORD_COLUMNS, rows], option=_DIGEST_JSON, default=str)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def generation_row(record: AudioRecord) -> dict[str, Any]:
    """The identity + generation columns of one generated clip."""
    return {
        "file_hash": record.file_hash,
        "dataset": record.dataset,
        "clip_id": record.id,
        "path": record.wav_path,
        "text": record.text,
        "book": record.book_id,
        "chapter_index": record.chapter_index,
        "chunk_index": record.chunk_index,
        "kind": record.kind,
        "voice": record.voice,
        "voice_recipe": record.voice_recipe,
        "speed": record.speed,
        "seed": record.seed,
        "tts_engine": record.tts_engine,
        "tts_model": record.tts_model,
        "tts_version": record.tts_version,
        "gen_ms": record.gen_ms,
        "gen_rtf": record.gen_rtf,
        "gen_device": record.device,
        "phonemes": record.phonemes,
        "word_phonemes": list(record.word_phonemes) or None,
        "duration_s": record.duration_s,
        "sample_rate": record.sample_rate,
        "versions": {"tts": record.tts_version},
        "g2p_flags": g2p_flag_ids(record.g2p_flags),
        "g2p_details": list(record.g2p_flags),
        "word_times": list(record.word_times) if record.word_times is not None else None,
        "attempt": record.attempt,
        "chunk_part": record.chunk_part or None,
        "heal_step": record.heal_step or None,
    }


def g2p_flag_ids(flags) -> list[str]:
    """One rule id per G2P audit finding; a fixed one as ``<rule>.fixed``."""
    return [f"{f['rule']}.fixed" if f.get("fixed") else f["rule"] for f in flags]


def _asr_group(result: ClipResult, role: str) -> dict[str, Any] | None:
    tx = result.primary if role == "primary" else result.secondary
    if tx is None:
        return None
    confidences = tx.confidences
    wer = calibrated = None
    if result.verdicts is not None and tx.error is None:
        summary = result.verdicts.summary
        wer = summary.primary_wer if role == "primary" else summary.secondary_wer
        calibration = calibration_for(tx.engine, tx.model)
        calibrated = calibration.mean(confidences) if calibration is not None else None
    return {
        f"{role}_engine": tx.engine,
        f"{role}_model": tx.model,
        f"{role}_text": tx.text if tx.error is None else None,
        f"{role}_wer": wer,
        f"{role}_conf_mean": sum(confidences) / len(confidences) if confidences else None,
        f"{role}_conf_min": min(confidences) if confidences else None,
        f"{role}_conf_calibrated": calibrated,
        f"{role}_ms": round(tx.ms, 1),
    }


def _verdict_group(result: ClipResult) -> dict[str, Any]:
    # Every verdict column is written, so a clip that now fails loses its stale counts.
    columns: dict[str, Any] = dict.fromkeys(GROUPS["verdicts"])
    columns |= {
        "path": result.clip.path,
        "text": result.clip.text,
        "escalated": result.escalated,
        "escalation_reason": result.escalation_reason,
        "validate_error": result.error,
        "labeled": result.clip.labeled,
    }
    decision = clip_decision(result)
    if result.verdicts is not None and decision is not None:
        summary = result.verdicts.summary
        columns |= {
            "n_words": summary.n_words,
            **{f"n_{name}": count for name, count in summary.counts.items()},
            "n_insertions": summary.n_insertions,
            "n_confirmed_insertions": summary.n_confirmed_insertions,
            "adjusted_wer": summary.adjusted_wer,
            "tier": decision.tier,
            "keep": decision.keep,
            "reject_reasons": list(decision.reasons),
        }
    return columns


def validation_groups(result: ClipResult) -> dict[str, dict[str, Any]]:
    """Column groups for ``Store.upsert`` (identity columns ride along with the verdicts)."""
    key = {"file_hash": result.clip.file_hash, "dataset": result.clip.dataset}
    groups: dict[str, dict[str, Any]] = {}
    for role in ("primary", "secondary"):
        asr = _asr_group(result, role)
        if asr is not None:
            groups[role] = {**key, **asr}
    groups["verdicts"] = {**_verdict_group(result), **key}
    if result.fingerprints is not None:  # merged (||) into the stored ones
        groups["verdicts"]["fingerprints"] = result.fingerprints
    if result.signal is not None:
        groups["signal"] = {**key, **result.signal}
    elif result.duration_s is not None:
        groups["audio"] = {**key, "duration_s": result.duration_s}
    if result.mos is not None:
        groups["mos"] = {**key, **result.mos}
    if result.checks is not None:
        groups["checks"] = {
            **key,
            "speaker_similarity": result.speaker_similarity,
            "clip_reasons": list(result.reasons),
            "clip_checks": result.checks,
        }
    return groups


def word_rows(result: ClipResult) -> list[dict[str, Any]]:
    """``audio_words`` rows: every label word, then the inserted words (negative indices)."""
    if result.verdicts is None:
        return []
    rows = []
    for word in (*result.verdicts.words, *result.verdicts.insertions):
        is_insertion = word.index < 0
        row = {  # in WORD_COLUMNS order
            "file_hash": result.clip.file_hash,
            "dataset": result.clip.dataset,
            "word_index": word.index,
            "label_word": None if is_insertion else word.label_word,
            "norm_word": None if is_insertion else word.norm_word,
            "primary_word": word.primary_word,
            "secondary_word": word.secondary_word,
            "verdict": word.verdict,
            "rule": word.rule,
            "start_s": word.start_s,
            "end_s": word.end_s,
            "confidence": word.confidence,
            "position": word.position if is_insertion else None,
            "fed_phonemes": None if is_insertion else word.fed_phonemes,
        }
        rows.append(row)
    return rows


def transcript_rows(result: ClipResult) -> list[dict[str, Any]]:
    """``audio_transcripts`` rows: each engine's words, with the fingerprint of what produced
    them (none for a result without fingerprints: nothing to resume from)."""
    prints = result.fingerprints or {}
    return [
        transcript_row(result.clip.file_hash, result.clip.dataset, role, tx, prints[role])
        for role, tx in (("primary", result.primary), ("secondary", result.secondary))
        if tx is not None and role in prints
    ]


def validation_entry(result: ClipResult) -> dict:
    """One clip as the validations log and ``write_validation_entries`` hold it."""
    groups, words = validation_groups(result), word_rows(result)
    if result.fingerprints is not None:
        prints = groups["verdicts"]["fingerprints"]
        groups["verdicts"]["fingerprints"] = {**prints, VERDICT_OUTPUT_KEY: verdict_output_digest(groups, words)}
    return {"groups": groups, "words": words, "transcripts": transcript_rows(result)}
