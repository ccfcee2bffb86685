"""The Whisper judge's forced readings on real audio (Kokoro int8 ONNX, embedded tiny.en):

* the doubled readings are scored from the transcription's own encoder output (a tap on
  faster-whisper's ``encode``) and give the same ratios and label probabilities as encoding the
  clip again;
* ``check_repeats=False`` asks nothing (``repeats`` None) and says so in the decoding fingerprint.
"""

from __future__ import annotations

import pytest
import soundfile as sf
from threadpoolctl import threadpool_limits

from judges.audio import load_audio
from judges.base import AudioItem
from judges.whisper import REPEAT_PLACES, WHISPER_SAMPLE_RATE, WhisperJudge, _ForcedReader
from pipeline.assets import whisper_tiny_en_dir
from pipeline.settings import Settings
from pipeline.tts.engine import build_engine

LABEL = "Alice was beginning to get very tired of sitting by her sister on the bank."
SPOKEN = LABEL.replace("very tired", "very very tired")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forced")
    engine = build_engine(Settings(work_dir=folder, mos_mode="none", voices=["af_heart"]))
    engine.setup()
    path = folder / "very_very.wav"
    sf.write(path, engine.synthesize_text(SPOKEN, voice="af_heart").audio, 24_000)
    engine.teardown()
    return str(path)


def test_forced_readings_reuse_the_transcription_encoder_output(clip) -> None:
    judge = WhisperJudge(whisper_tiny_en_dir(), name="whisper-tiny")
    judge.setup()
    # a label the engine did not hear as written, so the label probabilities are scored too
    label = LABEL.replace("sister", "brother")
    (tx,) = judge.judge_batch([AudioItem("k", clip, label)])
    with threadpool_limits(limits=1, user_api="blas"):  # as the judge reads a clip
        forced = _ForcedReader.of(judge._model, judge._label_tokenizer, load_audio(clip, WHISPER_SAMPLE_RATE))
        assert forced is not None
        assert tx.repeats == forced.repeats(label)
        assert tx.label_probs == forced.word_probs(label)
    assert len(tx.repeats) >= 3  # 3 places, one or two readings each
    very = label.split().index("very")
    assert any(r.found() and very in (r.first, r.last) for r in tx.repeats), tx.repeats
    assert "encode" not in vars(judge._model)  # the tap is gone after the transcription
    judge.teardown()


def test_no_repeat_check_asks_nothing(clip) -> None:
    judge = WhisperJudge(whisper_tiny_en_dir(), name="whisper-tiny", check_repeats=False)
    assert "repeats" not in judge.decoding
    judge.setup()
    (tx,) = judge.judge_batch([AudioItem("k", clip, LABEL)])
    assert tx.repeats is None and tx.error is None
    judge.teardown()
    assert "repeats" in WhisperJudge(whisper_tiny_en_dir()).decoding


def test_the_number_of_places_tested_is_a_setting(clip) -> None:
    """``repeat_places``: the first places of ``repeat_order`` (0: every place), each with its one or
    two doubled readings; the decoding fingerprint names the number."""
    judge = WhisperJudge(whisper_tiny_en_dir(), name="whisper-tiny", repeat_places=0)
    assert judge.decoding["repeats"].endswith("placesall")
    assert WhisperJudge(whisper_tiny_en_dir()).decoding["repeats"].endswith("places3")
    assert Settings().repeat_places == REPEAT_PLACES  # the setting's default is the judge's
    judge.setup()
    (every,) = judge.judge_batch([AudioItem("k", clip, LABEL)])
    with threadpool_limits(limits=1, user_api="blas"):
        forced = _ForcedReader.of(judge._model, judge._label_tokenizer, load_audio(clip, WHISPER_SAMPLE_RATE))
        order = forced.repeat_order(LABEL)
        first_two = forced.repeats(LABEL, places=2)
    judge.teardown()
    assert {r.last for r in every.repeats} == set(order) and len(order) == len(LABEL.split()) - 1
    assert {r.last for r in first_two} == set(order[:2])
    assert set(first_two) <= set(every.repeats)
