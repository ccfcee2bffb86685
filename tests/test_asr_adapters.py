"""The production ASR adapters (Parakeet via NeMo, Qwen3-ASR via qwen-asr) through their real
library code paths, on tiny random-weight models built here (the real checkpoints cannot be
fetched offline) and real Kokoro speech.

Random weights hear nothing, so transcripts are nonsense: these tests check loading, batching,
resampling, word timestamps/confidence plumbing, error results and pickling, not accuracy.
The NeMo and qwen-asr groups skip when their package (the ``asr`` extra) is not installed; the
tests that need no model run everywhere.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.bad_audio import write_bad_audio

from judges.audio import load_audio
from judges.base import AudioItem, Transcript

SPEECH = {"hello": "Hello world.", "alice": "Alice was beginning to get very tired."}
KOKORO_RATE = 24_000


# --- shared audio -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Real Kokoro speech (24 kHz mono), the same speech as 48 kHz stereo, and bad files."""
    from pipeline.settings import Settings
    from pipeline.tts.engine import build_engine

    out = tmp_path_factory.mktemp("asr-clips")
    engine = build_engine(Settings())
    engine.setup()
    paths: dict[str, Path] = {}
    for name, text in SPEECH.items():
        audio = engine.synthesize_text(text, voice="af_heart", seed=0).audio
        paths[name] = out / f"{name}.wav"
        sf.write(paths[name], audio, KOKORO_RATE)
    import soxr

    audio, rate = sf.read(paths["alice"], dtype="float32")
    stereo = soxr.resample(audio, rate, 48_000)
    paths["alice_48k_stereo"] = out / "alice_48k_stereo.wav"
    sf.write(paths["alice_48k_stereo"], np.stack([stereo, 0.5 * stereo], axis=1), 48_000)
    paths.update(write_bad_audio(out))
    return paths


GOOD = ("hello", "alice", "alice_48k_stereo")
BAD = {"corrupt": "cannot decode", "empty": "empty audio", "missing": "no such file"}


def items_for(clips: dict[str, Path], names=GOOD + tuple(BAD)) -> list[AudioItem]:
    return [AudioItem(name, str(clips[name]), SPEECH.get(name.split("_")[0])) for name in names]


def duration(path: Path) -> float:
    return sf.info(str(path)).duration


def check_transcripts(
    transcripts: list[Transcript], items: list[AudioItem], clips, engine: str, model: str
) -> dict[str, Transcript]:
    """One transcript per item, in order; bad files are error results; good ones have text."""
    assert [t.key for t in transcripts] == [i.key for i in items]
    by_key = {t.key: t for t in transcripts}
    for t in transcripts:
        assert (t.engine, t.model) == (engine, model)
    for name, message in BAD.items():
        if name in by_key:
            t = by_key[name]
            assert t.error is not None and message in t.error, t.error
            assert (t.text, t.words) == ("", ())
    for name in GOOD:
        if name in by_key:
            t = by_key[name]
            assert t.error is None, t.error
            assert t.text and t.text == " ".join(t.text.split())
            assert t.ms > 0
    return by_key


def check_timed_words(t: Transcript, clip_seconds: float, with_confidence: bool) -> None:
    assert t.words, f"{t.key}: no words"
    for w in t.words:
        assert isinstance(w.text, str) and w.text
        assert type(w.start) is float and type(w.end) is float  # not numpy scalars (JSON/SQL)
        assert 0.0 <= w.start <= w.end <= clip_seconds + 0.5
        if with_confidence:
            assert type(w.confidence) is float and 0.0 <= w.confidence <= 1.0
        else:
            assert w.confidence is None
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)


# --- Parakeet (NeMo) --------------------------------------------------------------------------


def test_parakeet_is_cheap_before_setup():
    """Construction loads nothing (no NeMo import), pickles, and reports what it will run."""
    from judges.parakeet import ParakeetJudge

    judge = ParakeetJudge(model="/models/parakeet.nemo", device="cpu", batch_size=4, decoder="ctc")
    clone = pickle.loads(pickle.dumps(judge))
    info = clone.info
    assert (info.name, info.kind, info.model, info.sample_rate, info.batch_size) == (
        "parakeet",
        "asr",
        "/models/parakeet.nemo",
        16_000,
        4,
    )
    assert "nemo_toolkit" in info.version and "decoder ctc" in info.version
    with pytest.raises(RuntimeError, match="setup"):
        judge.judge_batch([AudioItem("k", "x.wav")])
    with pytest.raises(ValueError, match="decoder"):
        ParakeetJudge(decoder="beam")
    with pytest.raises(ValueError, match="device"):
        ParakeetJudge(device="gpu0")


@pytest.fixture(scope="session")
def tiny_nemo(tmp_path_factory) -> Path:
    pytest.importorskip("nemo.collections.asr")
    from helpers.tiny_asr import tiny_parakeet

    return tiny_parakeet(tmp_path_factory.mktemp("tiny-parakeet"))


@pytest.fixture(scope="module", params=["tdt", "ctc"])
def parakeet(request, tiny_nemo):
    from judges.parakeet import ParakeetJudge

    judge = ParakeetJudge(model=str(tiny_nemo), device="cpu", batch_size=2, decoder=request.param)
    judge.setup()
    yield judge
    judge.teardown()


def test_parakeet_batch_words_timestamps_confidence(parakeet, clips):
    items = items_for(clips)
    transcripts = parakeet.judge_batch(items)
    by_key = check_transcripts(transcripts, items, clips, "parakeet", str(parakeet.model))
    for name in GOOD:
        t = by_key[name]
        check_timed_words(t, duration(clips[name]), with_confidence=True)
        assert " ".join(w.text for w in t.words) == t.text
    info = parakeet.info
    assert info.device == "cpu" and info.sample_rate == 16_000
    assert f"decoder {parakeet.decoder}" in info.version and "fp:" in info.version


def test_parakeet_result_does_not_depend_on_batch(parakeet, clips):
    """A clip alone gives the same words as inside a padded batch with a longer clip."""
    alone = parakeet.judge_batch(items_for(clips, ["hello"]))[0]
    together = {t.key: t for t in parakeet.judge_batch(items_for(clips, ["alice", "hello"]))}
    assert together["hello"].text == alone.text
    assert [w.text for w in together["hello"].words] == [w.text for w in alone.words]


def test_parakeet_retries_a_failing_batch_clip_by_clip(parakeet, clips, monkeypatch):
    """If the model raises on a batch, each clip is decoded alone; only the culprit fails."""
    real = parakeet._model.transcribe
    poison = len(load_audio(clips["alice"], 16_000))

    def flaky(audio, **kwargs):
        if any(len(a) == poison for a in audio):
            raise RuntimeError("simulated CUDA error")
        return real(audio=audio, **kwargs)

    monkeypatch.setattr(parakeet._model, "transcribe", flaky)
    by_key = {t.key: t for t in parakeet.judge_batch(items_for(clips, ["hello", "alice", "corrupt"]))}
    assert by_key["hello"].error is None and by_key["hello"].words
    assert "simulated CUDA error" in by_key["alice"].error
    assert "cannot decode" in by_key["corrupt"].error


def test_parakeet_entropy_confidence(tiny_nemo, clips):
    from judges.parakeet import ParakeetJudge

    judge = ParakeetJudge(
        model=str(tiny_nemo), device="cpu", confidence_method="entropy", confidence_aggregation="mean"
    )
    judge.setup()
    t = judge.judge_batch(items_for(clips, ["hello"]))[0]
    check_timed_words(t, duration(clips["hello"]), with_confidence=True)


def test_parakeet_pickles_after_setup_without_the_model(parakeet):
    clone = pickle.loads(pickle.dumps(parakeet))
    assert not clone.loaded and clone.info.version == parakeet.info.version
    with pytest.raises(RuntimeError, match="setup"):
        clone.judge_batch([])


def test_parakeet_missing_file_and_unreachable_hub(tiny_nemo, monkeypatch):
    from nemo.collections.asr.models import ASRModel

    from judges.parakeet import ParakeetJudge

    with pytest.raises(RuntimeError, match="not a .nemo file"):
        ParakeetJudge(model=str(tiny_nemo.parent / "absent.nemo"), device="cpu").setup()

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(ASRModel, "from_pretrained", offline)
    with pytest.raises(RuntimeError, match=r"local \.nemo path"):
        ParakeetJudge(model="nvidia/parakeet-tdt_ctc-1.1b", device="cpu").setup()


# --- Qwen3-ASR (qwen-asr) ---------------------------------------------------------------------


def test_qwen_is_cheap_before_setup():
    from judges.qwen import QwenASRJudge

    judge = QwenASRJudge(model="/models/Qwen3-ASR-1.7B", aligner="/models/aligner", device="cpu", batch_size=3)
    clone = pickle.loads(pickle.dumps(judge))
    info = clone.info
    assert (info.name, info.kind, info.model, info.sample_rate, info.batch_size) == (
        "qwen",
        "asr",
        "/models/Qwen3-ASR-1.7B",
        16_000,
        3,
    )
    assert "qwen-asr" in info.version and "aligner" in info.version
    with pytest.raises(RuntimeError, match="setup"):
        judge.judge_batch([AudioItem("k", "x.wav")])
    with pytest.raises(ValueError, match="max_new_tokens"):
        QwenASRJudge(max_new_tokens=0)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("qwen_asr")
    from helpers.tiny_asr import tiny_qwen_aligner, tiny_qwen_asr

    root = tmp_path_factory.mktemp("tiny-qwen")
    return tiny_qwen_asr(root), tiny_qwen_aligner(root)


@pytest.fixture(scope="module", params=[False, True], ids=["no-aligner", "aligner"])
def qwen(request, tiny_qwen):
    from judges.qwen import QwenASRJudge

    model, aligner = tiny_qwen
    judge = QwenASRJudge(
        model=str(model),
        aligner=str(aligner) if request.param else None,
        device="cpu",
        batch_size=2,
        max_new_tokens=6,  # generate() stops only on Qwen's real EOS ids, which the tiny vocab lacks
    )
    judge.setup()
    yield judge
    judge.teardown()


def test_qwen_batch_words(qwen, clips):
    items = items_for(clips)
    transcripts = qwen.judge_batch(items)
    by_key = check_transcripts(transcripts, items, clips, "qwen", qwen.model)
    for name in GOOD:
        t = by_key[name]
        assert set(t.text.split()) <= {"hello", "world"}  # what the tiny model is wired to say
        assert [w.text for w in t.words] == t.text.split()
        if qwen.aligner:
            check_timed_words(t, duration(clips[name]) + 10.0, with_confidence=False)  # random aligner
        else:
            assert all(w.start is None and w.end is None and w.confidence is None for w in t.words)
        assert t.confidences == []  # Qwen3-ASR gives no confidence
    info = qwen.info
    assert info.device == "cpu" and "fp:" in info.version
    assert ("aligner" in info.version) == bool(qwen.aligner)


def test_qwen_pickles_after_setup_without_the_model(qwen):
    clone = pickle.loads(pickle.dumps(qwen))
    assert not clone.loaded and clone.info.version == qwen.info.version
    with pytest.raises(RuntimeError, match="setup"):
        clone.judge_batch([])


def test_qwen_missing_dir_and_unreachable_hub(tiny_qwen, monkeypatch):
    from qwen_asr import Qwen3ASRModel

    from judges.qwen import QwenASRJudge

    with pytest.raises(RuntimeError, match="no such directory"):
        QwenASRJudge(model=str(tiny_qwen[0].parent / "absent"), device="cpu").setup()

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(Qwen3ASRModel, "from_pretrained", offline)
    with pytest.raises(RuntimeError, match="local directories"):
        QwenASRJudge(model="Qwen/Qwen3-ASR-1.7B", device="cpu").setup()
    with pytest.raises(ValueError, match="Unsupported language"):
        QwenASRJudge(model=str(tiny_qwen[0]), device="cpu", language="Klingon").setup()
