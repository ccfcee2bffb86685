"""A realistic, deterministic demo database, written through the store's real upsert API.

Two datasets:

- ``alice-kokoro``: 20 chunks of *Alice* x 3 voices (``af_heart``, ``am_michael`` and the blend
  ``af_bella(2)+af_sky(1)``), validated with ``--engines both`` (embedded whisper base +
  tiny.en), scored by DNSMOS, DistillMOS and UTMOSv2.
- ``foreign-libritts``: 60 LibriTTS-R-like utterances from 6 speakers (no voice), validated with
  ``--engines cascade`` (parakeet, then qwen only on escalated files), scored by DNSMOS and
  DistillMOS; one file failed to decode (``validate_error`` set, nothing else).

Conventions the numbers follow (and the tests rely on):

- one ``audio_words`` row per reference word (``word_index >= 0``) plus one per insertion
  (``word_index < 0``); the per-file ``n_<verdict>`` columns count *all* of a file's rows, so
  ``sum(n_<verdict>) == n_words + n_insertions == rows in audio_words``;
- ``adjusted_wer = (n_tts_failure + n_ambiguous + n_unverified) / n_words``;
- tier from primary WER and mean confidence with SPEC's default thresholds;
- ``keep`` = no tts_failure, no ambiguous, composite MOS >= ``MOS_KEEP_THRESHOLD``;
- composite MOS = mean of the available judges' primary scores (DNSMOS ovrl, DistillMOS, UTMOSv2).

Example::

    counts = populate_demo(store, seed=0)
    counts["files"], counts["datasets"]["alice-kokoro"]["kept"]
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

from pipeline.store.columns import VERDICT_NAMES

ALICE = "alice-kokoro"
FOREIGN = "foreign-libritts"
VOICES = {
    "af_heart": ("af_heart", 0.18),
    "am_michael": ("am_michael", 0.0),
    "af_bella(2)+af_sky(1)": ("af_bella(0.6667)+af_sky(0.3333)", -0.22),
}
SPEAKERS = ("1089", "121", "237", "260", "2830", "5683")
MOS_KEEP_THRESHOLD = 3.0
TIERS = (("strict", 0.02, 0.98), ("balanced", 0.05, 0.97), ("permissive", 0.10, 0.95))

ALICE_CHUNKS = (
    "CHAPTER I. Down the Rabbit-Hole",
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do.",
    "Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations "
    "in it, and what is the use of a book, thought Alice, without pictures or conversations?",
    "So she was considering in her own mind whether the pleasure of making a daisy-chain would be worth the "
    "trouble of getting up and picking the daisies, when suddenly a White Rabbit with pink eyes ran close by her.",
    "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way to hear "
    "the Rabbit say to itself, Oh dear! Oh dear! I shall be late!",
    "Burning with curiosity, she ran across the field after it, and fortunately was just in time to see it pop "
    "down a large rabbit-hole under the hedge.",
    "The rabbit-hole went straight on like a tunnel for some way, and then dipped suddenly down, so suddenly "
    "that Alice had not a moment to think about stopping herself before she found herself falling down a very "
    "deep well.",
    "She took down a jar from one of the shelves as she passed; it was labelled ORANGE MARMALADE, but to her "
    "great disappointment it was empty.",
    "I wonder how many miles I've fallen by this time? she said aloud. I must be getting somewhere near the "
    "centre of the earth.",
    "I wonder what Latitude or Longitude I've got to? Alice had no idea what Latitude was, or Longitude "
    "either, but thought they were nice grand words to say.",
    "I wonder if I shall fall right through the earth! How funny it'll seem to come out among the people that "
    "walk with their heads downward! The Antipathies, I think.",
    "Dinah'll miss me very much to-night, I should think! Dinah was the cat. I hope they'll remember her "
    "saucer of milk at tea-time.",
    "Do cats eat bats? Do cats eat bats? and sometimes, Do bats eat cats? for, you see, as she couldn't answer "
    "either question, it didn't much matter which way she put it.",
    "CHAPTER II. The Pool of Tears",
    "Curiouser and curiouser! cried Alice; she was so much surprised, that for the moment she quite forgot how "
    "to speak good English.",
    "Now I'm opening out like the largest telescope that ever was! Good-bye, feet! for when she looked down at "
    "her feet, they seemed to be almost out of sight.",
    "Oh, my poor little feet, I wonder who will put on your shoes and stockings for you now, dears?",
    "Just then her head struck against the roof of the hall: in fact she was now more than nine feet high, and "
    "she at once took up the little golden key and hurried off to the garden door.",
    "The Rabbit started violently, dropped the white kid gloves and the fan, and skurried away into the "
    "darkness as hard as he could go.",
    "I'm sure I'm not Ada, she said, for her hair goes in such long ringlets, and mine doesn't go in ringlets "
    "at all; and I'm sure I can't be Mabel, for I know all sorts of things.",
)

FOREIGN_SENTENCES = (
    "He hoped there would be stew for dinner, turnips and carrots and bruised potatoes.",
    "The chaos in which his ardour extinguished itself was a cold indifferent knowledge of himself.",
    "After early nightfall the yellow lamps would light up, here and there, the squalid quarter of the brothels.",
    "Stuff it into you, his belly counselled him.",
    "Number ten, fresh Nelly is waiting on you, good night husband.",
    "The music came nearer and he recalled the words, the words of Shelley's fragment upon the moon.",
    "Hello Bertie, any good in your mind?",
    "At the conclusion of the meeting Mr. Grey moved a vote of thanks to the chairman.",
    "She was a splendid woman, with a fine figure and a handsome face.",
    "It is the same with the great majority of mankind in 1870 as it was in the days of Herodotus.",
    "The colonel drew his sword and rode forward into the smoke.",
    "We walked along the wharf toward the lighthouse, where the fishermen were mending their nets.",
)

# Words a TTS model or a recognizer gets wrong more often than the rest (names, coinages).
HARD_WORDS = {
    "antipathies": "antipathy's",
    "curiouser": "curious",
    "dinah'll": "dinah will",
    "skurried": "scurried",
    "latitude": "altitude",
    "longitude": "longevity",
    "marmalade": "marmalady",
    "brothels": "brothers",
    "herodotus": "herod otis",
    "ardour": "order",
    "counselled": "council",
}
HOMOPHONES = {"tail": "tale", "tale": "tail", "sea": "see", "here": "hear", "know": "no", "eyes": "ice", "by": "buy"}
SPELLING = {"labelled": "labeled", "centre": "center", "ardour": "ardor", "counselled": "counseled"}
COMPOUNDS = {"rabbit-hole": "rabbithole", "daisy-chain": "daisy chain", "tea-time": "teatime", "good-bye": "goodbye"}
ABBREVIATIONS = {"mr.": "mister", "1870": "eighteen seventy"}
INSERTIONS = ("uh", "um", "the", "and", "a")


def norm(word: str) -> str:
    """The demo's stand-in for the validator's normalization (casefold, strip punctuation)."""
    return re.sub(r"[^\w'-]", "", word.casefold()).strip("'-")


def _hash(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def tier_for(primary_wer: float, conf_mean: float) -> str:
    for name, max_wer, min_conf in TIERS:
        if primary_wer < max_wer and conf_mean > min_conf:
            return name
    return "reject"


def _word_events(rng: random.Random, words: list[str], troubled: bool) -> list[str]:
    """One raw event per reference word (what happened when the engines heard it)."""
    scale = 6.0 if troubled else 1.0
    events = []
    for word in words:
        n = norm(word)
        roll = rng.random()
        if n in HARD_WORDS and roll < (0.3 if troubled else 0.08):
            events.append("tts_failure")
        elif n in HARD_WORDS and roll < 0.12:
            events.append("ambiguous")
        elif n in COMPOUNDS and roll < 0.3:
            events.append("compound")
        elif n in SPELLING and roll < 0.4:
            events.append("spelling_variant")
        elif n in ABBREVIATIONS or n.isdigit():
            events.append("abbreviation")
        elif n in HOMOPHONES and roll < 0.3:
            events.append("homophone")
        else:
            roll = rng.random()
            table = (
                ("stt_error", 0.007 * scale),
                ("secondary_error", 0.025),
                ("tts_failure", 0.002 * scale),
                ("ambiguous", 0.003 * scale),
                ("gt_typo", 0.002),
            )
            event = "pass"
            for name, p in table:
                if roll < p:
                    event = name
                    break
                roll -= p
            events.append(event)
    return events


def _heard(event: str, n: str, rng: random.Random) -> tuple[str, str]:
    """(primary word, secondary word) for a reference word and its event."""
    wrong = HARD_WORDS.get(n) or (n[:-1] if len(n) > 3 else n + "s")
    other = wrong + "e" if wrong != n + "e" else n + "a"
    return {
        "pass": (n, n),
        "stt_error": (wrong, n),
        "secondary_error": (n, wrong),
        "tts_failure": (wrong, wrong),
        "ambiguous": (wrong, other),
        "homophone": (HOMOPHONES.get(n, n), HOMOPHONES.get(n, n) if rng.random() < 0.5 else n),
        "compound": (COMPOUNDS.get(n, n), COMPOUNDS.get(n, n)),
        "spelling_variant": (SPELLING.get(n, n), SPELLING.get(n, n)),
        "abbreviation": (ABBREVIATIONS.get(n, n), ABBREVIATIONS.get(n, n)),
        "gt_typo": (n + "e", n + "e"),
    }[event]


RULES = {
    "pass": "exact",
    "stt_error": "secondary_matches_reference",
    "secondary_error": "primary_matches_reference",
    "tts_failure": "engines_agree_against_reference",
    "ambiguous": "engines_disagree",
    "unverified": "single_engine_mismatch",
    "homophone": "phoneme_match",
    "compound": "compound_join_split",
    "spelling_variant": "variant_spelling",
    "filler_word": "filler",
    "abbreviation": "abbreviation_expansion",
    "gt_typo": "label_typo_edit_distance",
}
PRIMARY_WRONG = {"stt_error", "tts_failure", "ambiguous", "homophone", "compound", "spelling_variant", "abbreviation"}
PRIMARY_WRONG |= {"gt_typo"}
SECONDARY_WRONG = {"secondary_error", "tts_failure", "ambiguous", "compound", "spelling_variant", "gt_typo"}
SECONDARY_WRONG |= {"abbreviation"}


def _validate_file(
    rng: random.Random, key: dict[str, str], text: str, duration: float, cascade: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any] | None]:
    """Verdict counts, word rows and ASR rows of one file."""
    words = text.split()
    troubled = rng.random() < 0.08
    events = _word_events(rng, words, troubled)
    heard = [_heard(e, norm(w), rng) for e, w in zip(events, words, strict=True)]
    n_insertions = rng.choices((0, 1, 2), weights=(90, 8, 2))[0] + (1 if troubled and rng.random() < 0.5 else 0)
    inserted = [rng.choice(INSERTIONS) for _ in range(n_insertions)]
    n_words = len(words)
    primary_errors = sum(e in PRIMARY_WRONG for e in events) + n_insertions
    primary_wer = primary_errors / n_words
    conf_mean = _clip(0.996 - 0.4 * primary_wer + rng.gauss(0, 0.005), 0.6, 0.9999)
    escalated = primary_wer > 0.05 or conf_mean < 0.98
    secondary_ran = escalated or not cascade
    if not secondary_ran:  # one engine only: what it got wrong and no rule explains is unverified
        events = ["unverified" if e in {"stt_error", "tts_failure", "ambiguous", "gt_typo"} else e for e in events]
        events = ["pass" if e == "secondary_error" else e for e in events]
    verdicts = list(events) + ["filler_word" if w in {"uh", "um"} else "stt_error" for w in inserted]

    step = duration / max(n_words, 1)
    word_rows = []
    for i, (word, event, (p, s)) in enumerate(zip(words, events, heard, strict=True)):
        correct = event in {"pass", "secondary_error"}
        word_rows.append(
            {
                **key,
                "word_index": i,
                "label_word": word,
                "norm_word": norm(word),
                "primary_word": p,
                "secondary_word": s if secondary_ran else None,
                "verdict": event,
                "rule": RULES[event],
                "start_s": round(0.15 + i * step, 3),
                "end_s": round(0.15 + (i + 0.85) * step, 3),
                "confidence": round(_clip(rng.gauss(0.995 if correct else 0.82, 0.01 if correct else 0.08), 0, 1), 4),
            }
        )
    for j, word in enumerate(inserted):
        verdict = verdicts[n_words + j]
        word_rows.append(
            {
                **key,
                "word_index": -1 - j,
                "label_word": None,
                "norm_word": None,
                "primary_word": word,
                "secondary_word": word if secondary_ran and rng.random() < 0.5 else None,
                "verdict": verdict,
                "rule": RULES[verdict],
                "start_s": round(rng.uniform(0, duration), 3),
                "end_s": None,
                "confidence": round(rng.uniform(0.3, 0.8), 4),
            }
        )

    counts = {f"n_{v}": 0 for v in VERDICT_NAMES}
    for verdict in verdicts:
        counts[f"n_{verdict}"] += 1
    adjusted = (counts["n_tts_failure"] + counts["n_ambiguous"] + counts["n_unverified"]) / n_words
    verdict_row = {
        **key,
        "n_words": n_words,
        **counts,
        "n_insertions": n_insertions,
        "adjusted_wer": round(adjusted, 5),
        "escalated": escalated,
        "escalation_reason": (None if not escalated else "wer" if primary_wer > 0.05 else "confidence"),
        "tier": tier_for(primary_wer, conf_mean),
        "keep": None,  # set once MOS is known
        "validate_error": None,
    }
    primary_row = {
        **key,
        "primary_text": " ".join([p for p, _ in heard] + inserted),
        "primary_wer": round(primary_wer, 5),
        "primary_conf_mean": round(conf_mean, 4),
        "primary_conf_min": round(_clip(conf_mean - rng.uniform(0.02, 0.3), 0.05, conf_mean), 4),
        "primary_ms": round(duration * rng.uniform(18, 30), 1),
    }
    secondary_row = None
    if secondary_ran:
        secondary_errors = sum(e in SECONDARY_WRONG for e in events) + n_insertions // 2
        secondary_row = {
            **key,
            "secondary_text": " ".join(s for _, s in heard),
            "secondary_wer": round(secondary_errors / n_words, 5),
            "secondary_conf_mean": round(_clip(conf_mean - rng.uniform(0, 0.02), 0.5, 0.9999), 4),
            "secondary_conf_min": round(_clip(conf_mean - rng.uniform(0.05, 0.4), 0.05, 1), 4),
            "secondary_ms": round(duration * rng.uniform(8, 14), 1),
        }
    return verdict_row, word_rows, primary_row, secondary_row


def _mos_row(rng: random.Random, key: dict[str, str], quality: float, utmos: bool, seed: int) -> dict[str, Any]:
    ovrl = _clip(3.15 + 0.55 * quality + rng.gauss(0, 0.14), 1, 5)
    row = {
        **key,
        "mos_dnsmos_sig": round(_clip(ovrl + 0.3 + rng.gauss(0, 0.08), 1, 5), 3),
        "mos_dnsmos_bak": round(_clip(3.95 + rng.gauss(0, 0.12), 1, 5), 3),
        "mos_dnsmos_ovrl": round(ovrl, 3),
        "mos_dnsmos_p808": round(_clip(3.55 + 0.6 * quality + rng.gauss(0, 0.15), 1, 5), 3),
        "mos_distillmos": round(_clip(3.75 + 0.9 * quality + rng.gauss(0, 0.2), 1, 5), 3),
        "mos_judges": ["dnsmos", "distillmos"],
        "mos_seed": seed,
        "mos_ms": {"dnsmos": round(rng.uniform(20, 45), 1), "distillmos": round(rng.uniform(60, 120), 1)},
    }
    primaries = [row["mos_dnsmos_ovrl"], row["mos_distillmos"]]
    if utmos:
        row["mos_utmosv2"] = round(_clip(3.85 + 1.0 * quality + rng.gauss(0, 0.18), 1, 5), 3)
        row["mos_judges"] = [*row["mos_judges"], "utmosv2"]
        row["mos_ms"]["utmosv2"] = round(rng.uniform(150, 300), 1)
        primaries.append(row["mos_utmosv2"])
    row["composite_mos"] = round(sum(primaries) / len(primaries), 3)
    return row


def _signal_row(rng: random.Random, key: dict[str, str], duration: float, sample_rate: int) -> dict[str, Any]:
    clipping = rng.random() < 0.05
    peak = 1.0 if clipping else _clip(rng.gauss(0.72, 0.1), 0.2, 0.99)
    rms_db = _clip(rng.gauss(-21.5, 2.5), -40, -9)
    return {
        **key,
        "duration_s": round(duration, 3),
        "sample_rate": sample_rate,
        "peak_amplitude": round(peak, 4),
        "rms_db": round(rms_db, 2),
        "clipping_pct": round(rng.uniform(0.15, 1.2), 3) if clipping else 0.0,
        "silence_pct": round(_clip(rng.gauss(14, 5) + (25 if rng.random() < 0.04 else 0), 1, 80), 2),
        "energy_std": round(_clip(rng.gauss(0.045, 0.01), 0.005, 0.2), 4),
        "dynamic_range_db": round(_clip(rng.gauss(44, 6), 15, 80), 2),
        "zero_crossing_rate": round(_clip(rng.gauss(0.085, 0.015), 0.01, 0.3), 4),
        "spectral_centroid_hz": round(_clip(rng.gauss(1900, 250), 600, 4000), 1),
        "spectral_rolloff_hz": round(_clip(rng.gauss(4300, 500), 1500, 9000), 1),
    }


def _clips(seed: int) -> list[dict[str, Any]]:
    """Identity + generation facts of every demo clip, both datasets."""
    rng = random.Random(f"clips-{seed}")
    clips = []
    for voice, (recipe, quality) in VOICES.items():
        for index, text in enumerate(ALICE_CHUNKS):
            speed = 1.0
            duration = max(1.2, len(text.split()) / rng.uniform(2.4, 2.9) / speed + rng.uniform(0.3, 0.8))
            gen_rtf = rng.uniform(0.04, 0.09)
            clips.append(
                {
                    "dataset": ALICE,
                    "cascade": False,
                    "voice_quality": quality,
                    "identity": {
                        "clip_id": _hash("alice", text, recipe, speed, "kokoro-onnx-0.9.4", seed)[:16],
                        "path": f"alice/{voice}/chunk_{index:05d}.wav",
                        "text": text,
                        "book": "alice",
                        "chapter_index": 1 if index < 13 else 2,
                        "chunk_index": index,
                        "kind": "heading" if text.startswith("CHAPTER") else "text",
                        "voice": voice,
                        "voice_recipe": recipe,
                        "speed": speed,
                        "seed": seed,
                        "tts_engine": "kokoro-onnx",
                        "tts_model": "kokoro-v1.0.int8.onnx",
                        "tts_version": "0.9.4",
                    },
                    "generation": {
                        "gen_ms": round(duration * gen_rtf * 1000, 1),
                        "gen_rtf": round(gen_rtf, 4),
                        "gen_device": "cpu",
                        "phonemes": None,
                    },
                    "duration": duration,
                    "sample_rate": 24_000,
                }
            )
    for index in range(60):
        speaker = SPEAKERS[index % len(SPEAKERS)]
        sentence_count = rng.choice((1, 1, 2))
        text = " ".join(rng.sample(FOREIGN_SENTENCES, sentence_count))
        duration = len(text.split()) / rng.uniform(2.2, 3.1) + rng.uniform(0.4, 1.2)
        clips.append(
            {
                "dataset": FOREIGN,
                "cascade": True,
                "voice_quality": rng.gauss(0.05, 0.12),
                "identity": {
                    "path": f"/data/libritts_r/test-clean/{speaker}/{speaker}_{index:06d}.wav",
                    "text": text,
                },
                "generation": None,
                "duration": duration,
                "sample_rate": 24_000,
                "broken": index == 41,
            }
        )
    return clips


ENGINES = {
    ALICE: (("whisper", "base"), ("whisper", "tiny.en")),
    FOREIGN: (("parakeet", "nvidia/parakeet-tdt_ctc-1.1b"), ("qwen", "Qwen/Qwen3-ASR-1.7B")),
}


def _checks_row(key: dict[str, str], kept: bool) -> dict[str, Any]:
    """Speaker similarity and clip reasons of a generated clip, from its hash (the shared rng is
    left alone so the other columns stay as they were); only clips that are not kept get reasons."""
    unit = int(key["file_hash"][:8], 16) / 0xFFFFFFFF
    reason = [] if kept else [("long_silence", "speaker_drift", "truncated")[int(unit * 3) % 3]]
    return {**key, "speaker_similarity": round(0.8 + 0.17 * unit, 4), "clip_reasons": reason, "clip_checks": {}}


def populate_demo(store, seed: int = 0) -> dict[str, Any]:
    """Fill ``store`` with the two demo datasets; returns counts for assertions.

    The result: ``files``, ``words`` (audio_words rows), ``kept``, and ``datasets[name]`` with
    ``files``, ``validated``, ``kept``, ``words``, ``tts_failure``, ``ambiguous``, ``hours``,
    ``tiers`` (tier -> files) and ``voices``.
    """
    rng = random.Random(seed)
    groups: dict[str, list[dict[str, Any]]] = {
        g: [] for g in ("generation", "primary", "secondary", "verdicts", "checks")
    }
    groups |= {"mos": [], "signal": []}
    words: list[dict[str, Any]] = []
    files: list[tuple[str, str]] = []
    summary: dict[str, dict[str, Any]] = {}

    for clip in _clips(seed):
        dataset = clip["dataset"]
        key = {"file_hash": _hash("wav", dataset, clip["identity"]["path"], seed), "dataset": dataset}
        stats = summary.setdefault(
            dataset,
            {"files": 0, "validated": 0, "kept": 0, "words": 0, "tts_failure": 0, "ambiguous": 0, "hours": 0.0}
            | {"tiers": {}, "voices": set()},
        )
        stats["files"] += 1
        files.append((key["file_hash"], dataset))
        (primary_engine, primary_model), (secondary_engine, secondary_model) = ENGINES[dataset]
        identity = {**key, **clip["identity"]}
        if clip["generation"] is not None:
            groups["generation"].append(
                {
                    **identity,
                    **clip["generation"],
                    "duration_s": round(clip["duration"], 3),
                    "sample_rate": clip["sample_rate"],
                    "versions": {"tts": "0.9.4"},
                }
            )
            stats["voices"].add(clip["identity"]["voice"])
        if clip.get("broken"):
            groups["verdicts"].append({**identity, "validate_error": "could not decode audio: unexpected end of file"})
            continue

        verdict_row, word_rows, primary_row, secondary_row = _validate_file(
            rng, key, clip["identity"]["text"], clip["duration"], clip["cascade"]
        )
        groups["primary"].append(
            {**identity, **primary_row, "primary_engine": primary_engine, "primary_model": primary_model}
        )
        if secondary_row is not None:
            groups["secondary"].append(
                {**key, **secondary_row, "secondary_engine": secondary_engine, "secondary_model": secondary_model}
            )
        failing = verdict_row["n_tts_failure"] + verdict_row["n_ambiguous"]
        quality = clip["voice_quality"] + rng.gauss(0, 0.3) - (0.35 if failing else 0.0)
        mos_row = _mos_row(rng, key, quality, utmos=dataset == ALICE, seed=seed)
        verdict_row["keep"] = failing == 0 and mos_row["composite_mos"] >= MOS_KEEP_THRESHOLD
        verdict_row["reject_reasons"] = [r for r in ("tts_failure", "ambiguous") if verdict_row[f"n_{r}"]] + (
            ["low_mos"] if mos_row["composite_mos"] < MOS_KEEP_THRESHOLD else []
        )
        verdict_row["config"] = {"escalate_wer": 0.05, "escalate_conf": 0.98, "mos_keep": MOS_KEEP_THRESHOLD}
        verdict_row["versions"] = {"verdicts": "0.1.0"}
        groups["verdicts"].append(verdict_row)
        groups["mos"].append(mos_row)
        groups["signal"].append(_signal_row(rng, key, clip["duration"], clip["sample_rate"]))
        if clip["generation"] is not None:
            groups["checks"].append(_checks_row(key, verdict_row["keep"]))
        words.extend(word_rows)

        stats["validated"] += 1
        stats["kept"] += verdict_row["keep"]
        stats["words"] += len(word_rows)
        stats["tts_failure"] += verdict_row["n_tts_failure"]
        stats["ambiguous"] += verdict_row["n_ambiguous"]
        stats["hours"] += clip["duration"] / 3600
        stats["tiers"][verdict_row["tier"]] = stats["tiers"].get(verdict_row["tier"], 0) + 1

    for group in ("generation", "primary", "secondary", "verdicts", "mos", "signal", "checks"):
        store.upsert(group, groups[group])
    store.replace_words(files, words)

    for stats in summary.values():
        stats["voices"] = sorted(stats["voices"])
    return {
        "files": len(files),
        "words": len(words),
        "kept": sum(s["kept"] for s in summary.values()),
        "datasets": summary,
    }
