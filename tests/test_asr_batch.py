"""judges.asr_batch: the batching, failure isolation and value cleaning shared by the model-backed
ASR judges, with a fake decoder (no model needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import soundfile as sf

from judges.asr_batch import Decoded, clean_confidence, clean_span, judge_in_batches, model_fingerprint
from judges.base import ASRJudge, AudioItem, JudgeInfo, Transcript
from verdicts.records import Word

RATE = 16_000


class FakeJudge(ASRJudge):
    """Says how many samples it heard; raises on any batch holding a clip of ``poison`` samples."""

    sample_rate = RATE
    model_name = "fake-model"
    version = "fake 1.0"

    def __init__(self, poison: int | None = None, batch_size: int = 2) -> None:
        super().__init__(name="fake", device="cpu", batch_size=batch_size)
        self.poison = poison
        self.calls: list[list[int]] = []

    def decode(self, audios: list[np.ndarray]) -> list[Decoded]:
        self.calls.append([len(a) for a in audios])
        if self.poison is not None and any(len(a) == self.poison for a in audios):
            raise RuntimeError("model exploded")
        return [Decoded(f" heard  {len(a)} ", (Word(str(len(a)), 0.0, len(a) / RATE, 0.5),)) for a in audios]

    def _load(self) -> tuple[object, str]:
        return self.decode, "cpu"

    def _judge(self, items: Sequence[AudioItem]) -> list[Transcript]:
        return judge_in_batches(self, items, RATE, self.batch_size, self.decode)


def test_judge_base_lifecycle(wavs):
    """The shared base: setup guard, info, idempotent setup, teardown, pickling without the model."""
    import pickle

    judge = FakeJudge(batch_size=3)
    with pytest.raises(RuntimeError, match=r"FakeJudge.setup\(\) must be called first"):
        judge.judge_batch(items(wavs, ["a"]))
    assert judge.info == JudgeInfo("fake", "asr", "fake-model", "fake 1.0", RATE, "unloaded", 3)
    judge.setup()
    model = judge._model
    judge.setup()
    assert judge._model is model and judge.loaded and judge.info.device == "cpu"
    clone = pickle.loads(pickle.dumps(judge))
    assert not clone.loaded and clone.info.device == "unloaded" and clone.batch_size == 3
    failed = judge.error_result(AudioItem("k", "x.wav"), "boom")
    assert failed == Transcript("k", "fake", "fake-model", "", (), 0.0, "boom")
    judge.teardown()
    assert not judge.loaded and judge.info.device == "unloaded"
    judge.teardown()  # a second teardown does nothing
    with pytest.raises(ValueError, match="batch_size"):
        FakeJudge(batch_size=0)


@pytest.fixture()
def wavs(tmp_path):
    paths = {}
    for name, seconds in (("a", 1.0), ("b", 2.0), ("c", 0.5), ("d", 1.5)):
        paths[name] = tmp_path / f"{name}.wav"
        sf.write(paths[name], np.full(int(seconds * RATE), 0.1, dtype=np.float32), RATE)
    paths["bad"] = tmp_path / "bad.wav"
    paths["bad"].write_bytes(b"not audio")
    return paths


def items(wavs, names):
    return [AudioItem(n, str(wavs[n])) for n in names]


def test_order_grouping_and_bad_files(wavs):
    judge = FakeJudge(batch_size=2)
    judge.setup()
    out = judge.judge_batch(items(wavs, ["a", "bad", "b", "c", "d"]))
    assert [t.key for t in out] == ["a", "bad", "b", "c", "d"]
    assert judge.calls == [[16_000, 32_000], [8_000, 24_000]]  # bad file never reaches the model
    assert out[0].text == "heard 16000" and out[0].words[0].end == 1.0  # whitespace normalized
    assert "cannot decode" in out[1].error and out[1].words == ()
    assert all(t.error is None and t.ms > 0 for t in out if t.key != "bad")
    assert (out[0].engine, out[0].model) == ("fake", "fake-model")


def test_a_failing_batch_is_retried_clip_by_clip(wavs):
    judge = FakeJudge(poison=32_000, batch_size=4)
    judge.setup()
    out = {t.key: t for t in judge.judge_batch(items(wavs, ["a", "b", "c"]))}
    assert judge.calls == [[16_000, 32_000, 8_000], [16_000], [32_000], [8_000]]
    assert out["b"].error == "RuntimeError: model exploded"
    assert out["a"].text == "heard 16000" and out["c"].text == "heard 8000"


def test_a_decoder_returning_the_wrong_count_is_an_error(wavs):
    judge = FakeJudge()
    out = judge_in_batches(judge, items(wavs, ["a", "b"]), RATE, 2, lambda audios: [])
    assert all("returned 0 results for 1 clips" in t.error for t in out)


def test_value_cleaning():
    start, end = clean_span(np.float64(1.5), np.int64(1))
    assert (start, end) == (1.5, 1.5) and type(start) is float and type(end) is float
    assert clean_span(None, None) == (None, None)
    assert clean_confidence(np.float32(1.2)) == 1.0 and type(clean_confidence(np.float32(0.5))) is float
    assert clean_confidence(float("nan")) is None and clean_confidence(None) is None


def test_model_fingerprint_names_content_not_file_name(tmp_path):
    big = np.random.default_rng(0).bytes(9 << 20)  # larger than both hashed ends together
    (tmp_path / "one.nemo").write_bytes(big)
    (tmp_path / "two.nemo").write_bytes(big)
    (tmp_path / "three.nemo").write_bytes(big[:-1] + b"\x00" if big[-1] else big[:-1] + b"\x01")
    assert model_fingerprint(tmp_path / "one.nemo") == model_fingerprint(tmp_path / "two.nemo")
    assert model_fingerprint(tmp_path / "one.nemo") != model_fingerprint(tmp_path / "three.nemo")
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    before = model_fingerprint(folder)
    (folder / "config.json").write_text('{"x": 1}')
    assert model_fingerprint(folder) != before
