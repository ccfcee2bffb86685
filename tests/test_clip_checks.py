"""The clip checks: DSP sanity on constructed audio (table-driven), the speaker judge on real Kokoro
speech, and the timing cross-check on a real clip against a truncated copy (validated with the
embedded Whisper)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from judges.speaker import ResemblyzerJudge, similarity
from pipeline import reasons as R
from pipeline.clip_checks import ClipCheckThresholds, dsp_reasons, speech_extent
from pipeline.keep import clip_decision
from pipeline.records import ClipSource
from pipeline.settings import Settings
from pipeline.timing import HeardWord, timing_check

SR = 24_000
CHECKS = ClipCheckThresholds()


def tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    # a vowel-like tone with a slow envelope, so frames vary as speech does
    return (amplitude * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def clipped(seconds: float) -> np.ndarray:
    return np.clip(tone(seconds, 3.0), -1.0, 1.0)


# audio pieces -> expected reasons
DSP_CASES = [
    ("clean", [silence(0.3), tone(2), silence(0.5), tone(2), silence(0.4)], []),
    ("long pause inside", [silence(0.3), tone(2), silence(2.6), tone(2), silence(0.4)], [R.LONG_SILENCE]),
    ("late start", [silence(1.6), tone(3), silence(0.3)], [R.LEADING_SILENCE]),
    ("long tail", [silence(0.2), tone(3), silence(2.5)], [R.TRAILING_SILENCE]),
    ("clipped", [silence(0.2), clipped(2), silence(0.2)], [R.CLIPPING]),
    ("quiet room noise is silence", [silence(0.2), tone(2), np.full(SR * 3, 1e-4, np.float32)], [R.TRAILING_SILENCE]),
    ("digital silence", [silence(2.0)], [R.LEADING_SILENCE, R.TRAILING_SILENCE]),
]


@pytest.mark.parametrize(("name", "pieces", "expected"), DSP_CASES, ids=[c[0] for c in DSP_CASES])
def test_dsp_checks(name, pieces, expected):
    reasons, measured = dsp_reasons(np.concatenate(pieces), SR, CHECKS)
    assert sorted(reasons) == sorted(expected), measured


def test_speech_extent_measures_the_pause():
    audio = np.concatenate([silence(0.5), tone(1), silence(1.2), tone(1), silence(0.3)])
    extent = speech_extent(audio, SR)
    assert extent.start_s == pytest.approx(0.5, abs=0.02)
    assert extent.end_s == pytest.approx(3.7, abs=0.02)
    assert extent.longest_pause_s == pytest.approx(1.2, abs=0.03)
    # int16 input is read at full scale
    assert speech_extent((audio * 32767).astype(np.int16), SR).end_s == extent.end_s


# predicted word times, heard words, speech end -> (mismatched indices, truncated)
TIMING_CASES = [
    ([(0, 0.3), (1.0, 1.4)], [(0.3, 0.6), (1.0, 1.3)], 1.45, ((), False)),
    ([(0, 0.3), (1.0, 1.4)], [(0.3, 0.6), (3.0, 3.3)], 3.4, ((1,), False)),
    ([(0, 0.3), (1.0, 1.4), (2.0, 3.5)], [(0.0, 0.3), (1.0, 1.4)], 1.5, ((), True)),
]


@pytest.mark.parametrize(("predicted", "heard", "speech_end", "expected"), TIMING_CASES)
def test_timing_check(predicted, heard, speech_end, expected):
    words = [{"index": i, "start_s": a, "end_s": b} for i, (a, b) in enumerate(predicted)]
    result = timing_check(
        words,
        [HeardWord(i, a, b) for i, (a, b) in enumerate(heard)],
        speech_end,
        tolerance_s=1.0,
        truncation_tolerance_s=0.8,
    )
    assert (result.mismatched, result.truncated) == expected


# --- real Kokoro speech -----------------------------------------------------------------------

SENTENCES = (
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "So she was considering in her own mind whether the pleasure of making a daisy chain would be worth it.",
)


@pytest.fixture(scope="module")
def engine():
    from pipeline.tts.engine import build_engine

    built = build_engine(Settings(threads_per_worker=2))
    built.setup()
    return built


@pytest.fixture(scope="module")
def speaker_judge():
    judge = ResemblyzerJudge(device="cpu")
    judge.setup()
    return judge


def embed(judge, engine, text: str, voice: str) -> np.ndarray:
    import soxr

    audio = engine.synthesize_text(text, voice).audio
    return judge.embed(soxr.resample(audio, SR, 16_000).astype(np.float32))


def test_speaker_similarity_same_voice_high_other_voice_lower(engine, speaker_judge):
    heart_a = embed(speaker_judge, engine, SENTENCES[0], "af_heart")
    heart_b = embed(speaker_judge, engine, SENTENCES[1], "af_heart")
    george = embed(speaker_judge, engine, SENTENCES[1], "bm_george")
    same, other = similarity(heart_a, heart_b), similarity(heart_a, george)
    assert same > CHECKS.speaker_min_similarity, same
    assert other < CHECKS.speaker_min_similarity, other
    assert same - other > 0.2


def test_truncated_copy_is_caught_by_the_timing_check(tmp_path, engine):
    """A real clip passes the timing cross-check; the same audio cut after ~60 % of its words is
    ``truncated`` (and not kept), validated end to end with the embedded Whisper."""
    from judges.registry import build_asr
    from pipeline.chunking import phoneme_spans
    from pipeline.jobs.validate import run_validation
    from pipeline.timing import predicted_word_times
    from verdicts import Thresholds

    text = SENTENCES[1]
    phonemized = engine.g2p.phonemize(text)
    result = engine.synthesize_phonemes(phonemized.phonemes, "af_heart")
    tokens = text.split()
    times = predicted_word_times(tokens, phonemized.phonemes, phoneme_spans(tokens, phonemized), result.durations)
    assert [t["word"] for t in times] == tokens
    assert times[-1]["end_s"] <= result.duration_s
    cut = int(times[int(len(times) * 0.6)]["start_s"] * SR)
    clips = []
    for name, audio in (("whole", result.audio), ("truncated", result.audio[:cut])):
        path = tmp_path / f"{name}.wav"
        sf.write(path, audio, SR, subtype="PCM_16")
        clips.append(ClipSource(name, "timing", str(path), path.name, text, word_times=tuple(times)))
    report = run_validation(
        clips,
        primary=build_asr("whisper", Settings()),
        secondary=None,
        engines="primary",
        mode="stream",
        thresholds=Thresholds(),
    )
    whole, truncated = report.results
    assert R.TRUNCATED not in whole.reasons and R.TIMING_MISMATCH not in whole.reasons, whole.checks
    assert whole.checks["timing_max_offset_s"] < CHECKS.timing_tolerance_s
    assert R.TRUNCATED in truncated.reasons, truncated.checks
    assert truncated.checks["speech_end_s"] < truncated.checks["predicted_end_s"] - CHECKS.truncation_tolerance_s
    decision = clip_decision(truncated)
    assert not decision.keep and R.TRUNCATED in decision.reasons and decision.tier == "reject"


def test_g2p_reasons_only_for_unfixed_findings():
    flags = [
        {"rule": "g2p.letter_spelling", "fixed": True},
        {"rule": "g2p.heteronym_uncertain", "fixed": False},
        {"rule": "g2p.out_of_vocab", "fixed": False},
        {"rule": "g2p.heteronym_disputed", "fixed": False},
    ]
    assert R.g2p_reasons(flags) == [R.G2P_HETERONYM, R.G2P_OUT_OF_VOCABULARY]


def test_speaker_stage_scores_against_a_cached_reference(tmp_path, engine, speaker_judge):
    from pipeline.stages.speaker import SpeakerItem, SpeakerStage, VoiceReferences

    settings = Settings(work_dir=tmp_path / "work")
    wav = tmp_path / "clip.wav"
    sf.write(wav, engine.synthesize_text(SENTENCES[0], "af_heart").audio, SR, subtype="PCM_16")
    stage = SpeakerStage(speaker_judge, VoiceReferences(settings))
    items = [SpeakerItem("a", str(wav), "af_heart"), SpeakerItem("b", str(wav), "bm_george")]
    heart, george = stage.process_batch(items)
    assert heart > CHECKS.speaker_min_similarity > george
    assert stage.process_batch([SpeakerItem("c", str(tmp_path / "missing.wav"), "af_heart")]) == [None]
    cached = sorted(p.suffix for p in (tmp_path / "work" / "speaker_refs").iterdir())
    assert cached == [".npy", ".npy", ".wav", ".wav"]
    again = VoiceReferences(settings)  # a rerun: the reference comes from disk, no TTS loaded
    assert similarity(
        again.embedding("af_heart", speaker_judge), stage.references.embedding("af_heart", speaker_judge)
    ) == pytest.approx(1.0, abs=1e-6)
    assert again._engine is None
