"""The production MOS judges (SCOREQ, NISQA, UTMOSv2) through their real libraries.

Their published weights cannot be fetched here (Zenodo, GitHub, the HF hub are unreachable), so
each test saves a randomly initialised model in the library's own checkpoint format and loads
it through the adapter, which uses the library's loading and prediction code:

- NISQA (``nisqa`` 2.0.post2): ``NISQA_lib.NISQA_DIM`` / ``NISQA`` built from the published
  ``nisqa.tar`` training arguments, saved as ``_saveResults`` does (args, model_state_dict,
  optimizer state, pandas results), loaded by ``nisqaModel._loadModel``.
- SCOREQ (``scoreq`` 1.0.1): the library's own ``MosPredictor(TripletModel(...))`` around a tiny
  random wav2vec 2.0 (transformers' ``Wav2Vec2Model``, the architecture fairseq's
  ``wav2vec_small`` has; a small wrapper gives it fairseq's call signature), exported to ONNX
  under scoreq's file names and loaded by ``Scoreq._init_onnx``.
- UTMOSv2 (``hyperion-utmosv2``) cannot be imported beside torch 2.13 (see judges/utmosv2.py);
  only its skip, its reason and its metadata are tested. Its loading and scoring are UNTESTED.

Random weights say nothing about quality, so scores are checked for shape, finiteness,
determinism and equality with the saved model's own output, not for values.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.bad_audio import write_bad_audio

from judges import nisqa as nisqa_module
from judges import scoreq as scoreq_module
from judges import utmosv2 as utmosv2_module
from judges.base import AudioItem
from judges.mos import PRIMARY_SCORE, build_mos_judges, composite
from pipeline.jobs.validate import score_with_judges
from pipeline.runner import LocalRunner
from pipeline.settings import Settings
from pipeline.stages.quality import mos_row

HAS_NISQA = importlib.util.find_spec("nisqa") is not None
HAS_SCOREQ = scoreq_module.scoreq_dir() is not None
needs_nisqa = pytest.mark.skipif(not HAS_NISQA, reason="nisqa not installed (pip install --no-deps nisqa==2.0.post2)")
needs_scoreq = pytest.mark.skipif(not HAS_SCOREQ, reason="scoreq not installed (pip install --no-deps scoreq==1.0.1)")
BAD = {"corrupt": "cannot decode", "empty": "empty audio", "missing": "no such file"}

# The architecture and mel-spec arguments of the published nisqa.tar (config/train_nisqa_cnn_sa_ap.yaml
# in github.com/gabrielmittag/NISQA, model NISQA_DIM).
NISQA_ARGS = {
    "model": "NISQA_DIM",
    "ms_sr": None,
    "ms_fmax": 20000,
    "ms_n_fft": 4096,
    "ms_hop_length": 0.01,
    "ms_win_length": 0.02,
    "ms_n_mels": 48,
    "ms_seg_length": 15,
    "ms_seg_hop_length": 4,
    "ms_max_segments": 1300,
    "ms_channel": None,
    "cnn_model": "adapt",
    "cnn_c_out_1": 16,
    "cnn_c_out_2": 32,
    "cnn_c_out_3": 64,
    "cnn_kernel_size": (3, 3),
    "cnn_dropout": 0.2,
    "cnn_fc_out_h": None,
    "cnn_pool_1": [24, 7],
    "cnn_pool_2": [12, 5],
    "cnn_pool_3": [6, 3],
    "td": "self_att",
    "td_sa_d_model": 64,
    "td_sa_nhead": 1,
    "td_sa_pos_enc": False,
    "td_sa_num_layers": 2,
    "td_sa_h": 64,
    "td_sa_dropout": 0.1,
    "td_lstm_h": None,
    "td_lstm_num_layers": None,
    "td_lstm_dropout": None,
    "td_lstm_bidirectional": None,
    "td_2": "skip",
    **{
        f"td_2_{k}": None
        for k in (
            "sa_d_model",
            "sa_nhead",
            "sa_pos_enc",
            "sa_num_layers",
            "sa_h",
            "sa_dropout",
            "lstm_h",
            "lstm_num_layers",
            "lstm_dropout",
            "lstm_bidirectional",
        )
    },
    "pool": "att",
    "pool_att_h": 128,
    "pool_att_dropout": 0.1,
}


# --- audio ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Kokoro speech (24 kHz mono), a 48 kHz stereo tone sweep, a 16 kHz noisy copy, bad files."""
    from pipeline.tts.engine import build_engine

    out = tmp_path_factory.mktemp("mos-production-clips")
    engine = build_engine(Settings())
    engine.setup()
    speech = engine.synthesize_text("Alice was beginning to get very tired.", voice="af_heart", seed=0).audio
    paths = {"speech": out / "speech.wav", "sweep": out / "sweep.wav", "noisy": out / "noisy.wav"}
    sf.write(paths["speech"], speech, 24_000)
    t = np.arange(int(1.5 * 48_000)) / 48_000
    sweep = 0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(paths["sweep"], np.stack([sweep, sweep * 0.5], axis=1).astype(np.float32), 48_000)
    rng = np.random.default_rng(0)
    import soxr

    down = soxr.resample(speech, 24_000, 16_000)
    noisy = down + 0.05 * rng.standard_normal(len(down))
    sf.write(paths["noisy"], np.clip(noisy, -1, 1).astype(np.float32), 16_000)
    paths.update(write_bad_audio(out))
    return paths


def items(clips: dict[str, Path], *names: str) -> list[AudioItem]:
    return [AudioItem(name, str(clips[name])) for name in names]


def check_results(results, names, keys) -> dict[str, dict[str, float]]:
    by = {}
    for result, name in zip(results, names, strict=True):
        assert result.key == name
        if name in BAD:
            assert result.values == {} and BAD[name] in result.error, result
        else:
            assert result.error is None, result.error
            assert tuple(result.values) == keys
            assert all(np.isfinite(v) for v in result.values.values()), result.values
            assert result.ms > 0
        by[name] = result.values
    return by


# --- NISQA --------------------------------------------------------------------------------------


def save_nisqa(path: Path, model_name: str = "NISQA_DIM", published_format: bool = True) -> Path:
    """A random NISQA model saved the way ``nisqaModel._saveResults`` saves one."""
    import pandas as pd
    import torch
    from nisqa import NISQA_lib

    args = dict(NISQA_ARGS, model=model_name)
    model_args = {
        k: v for k, v in args.items() if k.startswith(("cnn_", "td", "pool")) or k in ("ms_seg_length", "ms_n_mels")
    }
    torch.manual_seed(0)
    model = getattr(NISQA_lib, model_name)(**model_args)
    for module in model.modules():  # spread the outputs: deep-copied pooling heads start identical
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.3)
    checkpoint = {"args": args, "model_state_dict": model.state_dict()}
    if published_format:  # what the published .tar files also hold (not weights-only loadable)
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        checkpoint.update(
            runname="random",
            epoch=1,
            model_args=model_args,
            optimizer_state_dict=opt.state_dict(),
            db_results=pd.DataFrame({"db": ["NISQA_VAL_SIM"], "r_p_file": [0.0]}),
            results={"runname": "random"},
            model_name=model.name,
        )
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def nisqa_checkpoint(tmp_path_factory) -> Path:
    return save_nisqa(tmp_path_factory.mktemp("nisqa") / "nisqa.tar")


@pytest.fixture(scope="module")
def nisqa_judge(nisqa_checkpoint):
    judge = nisqa_module.NISQAJudge(checkpoint=nisqa_checkpoint, device="cpu", batch_size=2)
    assert not judge.loaded and judge.info.device == "unloaded"  # nothing loaded in __init__
    pickle.loads(pickle.dumps(judge))
    judge.setup()
    yield judge
    judge.teardown()


@needs_nisqa
def test_nisqa_loads_published_format_and_scores(nisqa_judge, clips):
    import os

    import torch

    with pytest.raises(pickle.UnpicklingError):  # like the published .tar: needs the full-unpickling retry
        torch.load(nisqa_judge.checkpoint)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ  # the retry restored the environment
    assert nisqa_judge._model.args["model"] == "NISQA_DIM" and nisqa_judge._model.args["dim"] is True
    names = ("speech", "corrupt", "sweep", "empty", "noisy", "missing")
    results = nisqa_judge.judge_batch(items(clips, *names))
    by = check_results(results, names, nisqa_module.DIM_KEYS)
    assert len({round(v, 6) for v in by["speech"].values()}) > 1  # five distinct heads
    # Deterministic, and independent of the batch it is scored in (padding is masked).
    again = nisqa_judge.judge_batch(items(clips, "noisy", "speech"))
    for result in again:
        assert result.values == pytest.approx(by[result.key], abs=1e-5)


@needs_nisqa
def test_nisqa_matches_library_melspec_and_model(nisqa_judge, clips):
    """Our mel-spec equals ``NISQA_lib.get_librosa_melspec`` on the file; the scores equal the
    library's own file-based dataset + ``predict_dim``."""
    import pandas as pd
    from nisqa import NISQA_lib

    from judges.audio import read_audio

    a = nisqa_judge._model.args
    for name in ("speech", "sweep"):
        audio, rate = read_audio(clips[name])
        ours = nisqa_judge.melspec(audio, rate)
        theirs = NISQA_lib.get_librosa_melspec(
            str(clips[name]),
            sr=a["ms_sr"],
            n_fft=a["ms_n_fft"],
            hop_length=a["ms_hop_length"],
            win_length=a["ms_win_length"],
            n_mels=a["ms_n_mels"],
            fmax=a["ms_fmax"],
        )
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    ds = NISQA_lib.SpeechQualityDataset(
        pd.DataFrame({"deg": [str(clips["speech"]), str(clips["sweep"])]}),
        filename_column="deg",
        mos_column="predict_only",
        seg_length=a["ms_seg_length"],
        max_length=a["ms_max_segments"],
        seg_hop_length=a["ms_seg_hop_length"],
        ms_n_fft=a["ms_n_fft"],
        ms_hop_length=a["ms_hop_length"],
        ms_win_length=a["ms_win_length"],
        ms_n_mels=a["ms_n_mels"],
        ms_sr=a["ms_sr"],
        ms_fmax=a["ms_fmax"],
        dim=True,
    )
    y_hat, _ = NISQA_lib.predict_dim(nisqa_judge._model.model, ds, 2, nisqa_judge._model.dev)
    ours = nisqa_judge.judge_batch(items(clips, "speech", "sweep"))
    for row, result in zip(y_hat, ours, strict=True):
        assert list(result.values.values()) == pytest.approx([float(v) for v in row], abs=1e-4)


@needs_nisqa
def test_nisqa_info_license_and_composite(nisqa_judge, clips, nisqa_checkpoint):
    info = nisqa_judge.info
    assert (info.name, info.kind, info.device, info.batch_size) == ("nisqa", "mos", "cpu", 2)
    assert info.sample_rate == 0  # ms_sr null: each clip at its own rate
    assert "nisqa 2.0.post2" in info.version and "torch 2." in info.version
    assert str(nisqa_checkpoint) in info.model and "NISQA_DIM" in info.model
    assert "non-commercial" in info.model
    (result,) = nisqa_judge.judge_batch(items(clips, "speech"))
    row = mos_row([result], seed=3)
    assert row["mos_judges"] == ["nisqa"] and row["composite_mos"] == pytest.approx(result.values["mos_nisqa"])
    assert row["mos_seed"] == 3 and set(nisqa_module.DIM_KEYS) <= set(row)


@needs_nisqa
def test_nisqa_mos_only_weights_only_checkpoint(tmp_path, clips):
    """A plain (weights-only loadable) ``NISQA`` checkpoint, e.g. the TTS-naturalness model's
    architecture: only ``mos_nisqa``; too-short audio is an item error."""
    path = save_nisqa(tmp_path / "nisqa_tts.tar", "NISQA", published_format=False)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(800, dtype=np.float32) + 0.01, 16_000)  # 50 ms < one 15-frame segment
    judge = nisqa_module.NISQAJudge(checkpoint=path, device="cpu")
    judge.setup()
    speech, tiny = judge.judge_batch([AudioItem("speech", str(clips["speech"])), AudioItem("short", str(short))])
    assert set(speech.values) == {"mos_nisqa"} and np.isfinite(speech.values["mos_nisqa"])
    assert tiny.values == {} and "too short" in tiny.error


# --- SCOREQ -------------------------------------------------------------------------------------


def export_scoreq(folder: Path, seed: int) -> dict[str, object]:
    """Random SCOREQ no-reference models (scoreq's own MosPredictor/TripletModel classes, a tiny
    random wav2vec 2.0 inside), exported to ONNX under the file names scoreq loads."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    module = scoreq_module._scoreq_module()

    class FairseqCall(torch.nn.Module):  # fairseq's wav2vec2 call signature, as TripletModel uses it
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, wav, mask=False, features_only=True):
            return {"x": self.model(wav).last_hidden_state}

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    models = {}
    for i, (column, (_, filename)) in enumerate(scoreq_module.DOMAINS.items()):
        torch.manual_seed(seed + i)
        ssl = FairseqCall(Wav2Vec2Model(config))
        model = module.MosPredictor(module.TripletModel(ssl, ssl_out_dim=32, emb_dim=16), emb_dim=32).eval()
        example = module.dynamic_pad(torch.randn(1, 16_000))
        torch.onnx.export(
            model,
            (example,),
            str(folder / filename),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {1: "samples"}},
            opset_version=17,
        )
        models[column] = model
    return models


@pytest.fixture(scope="module")
def scoreq_models(tmp_path_factory):
    import warnings

    folder = tmp_path_factory.mktemp("scoreq")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = export_scoreq(folder, seed=0)
    return folder, models


@pytest.fixture(scope="module")
def scoreq_judge(scoreq_models):
    judge = scoreq_module.SCOREQJudge(models_dir=scoreq_models[0], device="cpu", batch_size=4)
    assert not judge.loaded and judge.info.device == "unloaded"
    pickle.loads(pickle.dumps(judge))
    judge.setup()
    yield judge
    judge.teardown()


@needs_scoreq
def test_scoreq_loads_onnx_and_scores(scoreq_judge, scoreq_models, clips):
    import torch

    keys = tuple(scoreq_module.DOMAINS)
    names = ("speech", "missing", "sweep", "corrupt", "noisy", "empty")
    results = scoreq_judge.judge_batch(items(clips, *names))
    by = check_results(results, names, keys)
    assert by["speech"]["mos_scoreq_synthetic"] != by["speech"]["mos_scoreq_natural"]  # two models
    # The library's ONNX session scored exactly what the saved models compute.
    from judges.audio import load_audio

    module = scoreq_module._scoreq_module()
    for name in ("speech", "sweep"):
        wave = module.dynamic_pad(torch.from_numpy(load_audio(clips[name], 16_000))[None, :])
        for column, model in scoreq_models[1].items():
            with torch.no_grad():
                expected = float(model(wave).item())
            assert by[name][column] == pytest.approx(expected, abs=1e-4)
    again = scoreq_judge.judge_batch(items(clips, "sweep", "speech"))
    for result in again:
        assert result.values == pytest.approx(by[result.key], abs=1e-6)


@needs_scoreq
def test_scoreq_info_import_and_composite(scoreq_judge, scoreq_models, clips):
    info = scoreq_judge.info
    assert (info.name, info.kind, info.sample_rate, info.device, info.batch_size) == ("scoreq", "mos", 16_000, "cpu", 4)
    assert "scoreq 1.0.1" in info.version and "onnxruntime" in info.version
    assert str(scoreq_models[0]) in info.model
    # scoreq/__init__.py (which downloads at import) never ran; the torchaudio placeholder did not leak.
    assert "scoreq" not in sys.modules
    if importlib.util.find_spec("torchaudio") is None:
        assert "torchaudio" not in sys.modules
    (result,) = scoreq_judge.judge_batch(items(clips, "speech"))
    mean, used = composite({**result.values, "mos_dnsmos_ovrl": 3.0})
    assert used == ["dnsmos", "scoreq"]
    assert mean == pytest.approx((3.0 + result.values["mos_scoreq_synthetic"]) / 2)  # synthetic is primary
    assert PRIMARY_SCORE["scoreq"] == "mos_scoreq_synthetic"


# --- build_mos_judges: configured, absent, untested -----------------------------------------------


@needs_nisqa
@needs_scoreq
def test_build_and_run_configured_production_judges(nisqa_checkpoint, scoreq_models, clips):
    settings = Settings(
        mos_seed=5,
        mos_device="cpu",
        nisqa_checkpoint=nisqa_checkpoint,
        scoreq_models_dir=scoreq_models[0],
        utmosv2_checkpoint=nisqa_checkpoint,  # any existing file: utmosv2 is skipped before looking at it
    )
    judges, skipped = build_mos_judges(["utmosv2", "scoreq", "nisqa"], settings)
    assert [j.info.name for j in judges] == ["scoreq", "nisqa"]
    assert all(j.info.device == "unloaded" for j in judges)
    if importlib.util.find_spec("utmosv2") is None:
        assert skipped == {"utmosv2": utmosv2_module.NOT_INSTALLED}
    scores = score_with_judges(LocalRunner(1), judges, items(clips, "speech", "empty"))
    assert all(j.info.device == "unloaded" for j in judges)  # torn down after
    row = mos_row(scores["speech"], seed=settings.mos_seed)
    assert row["mos_judges"] == ["scoreq", "nisqa"]
    assert row["composite_mos"] == pytest.approx((row["mos_scoreq_synthetic"] + row["mos_nisqa"]) / 2)
    assert set(row["mos_ms"]) == {"scoreq", "nisqa"} and row["mos_seed"] == 5
    empty = mos_row(scores["empty"], seed=5)
    assert empty["composite_mos"] is None and empty["mos_judges"] == []


def test_absent_weights_are_skipped_with_reasons(tmp_path):
    unset = Settings(scoreq_models_dir=tmp_path)
    judges, skipped = build_mos_judges(["utmosv2", "scoreq", "nisqa"], unset)
    assert judges == []
    if HAS_NISQA:
        assert skipped["nisqa"].startswith("nisqa: no checkpoint configured (set PIPELINE_NISQA_CHECKPOINT")
    else:
        assert skipped["nisqa"].startswith("nisqa: package nisqa not installed")
    assert "CC BY-NC-SA 4.0: non-commercial use only" in skipped["nisqa"]
    if HAS_SCOREQ:
        assert skipped["scoreq"] == (
            f"scoreq: weights adapt_nr_synthetic.onnx, adapt_nr_telephone.onnx missing from {tmp_path} "
            "(the Zenodo ONNX files, zenodo.org/records/15739280; set PIPELINE_SCOREQ_MODELS_DIR)"
        )
    assert skipped["utmosv2"].startswith("utmosv2: ")
    # A configured path that is not there, and one of SCOREQ's two files only.
    (tmp_path / "adapt_nr_synthetic.onnx").write_bytes(b"")
    _, skipped = build_mos_judges(
        ["scoreq", "nisqa"], Settings(nisqa_checkpoint=tmp_path / "gone.tar", scoreq_models_dir=tmp_path)
    )
    if HAS_NISQA:
        assert skipped["nisqa"] == f"nisqa: checkpoint {tmp_path / 'gone.tar'} not found"
        with pytest.raises(RuntimeError, match="not found"):  # setup says the same, clearly
            nisqa_module.NISQAJudge(checkpoint=tmp_path / "gone.tar").setup()
    if HAS_SCOREQ:
        assert skipped["scoreq"].startswith(f"scoreq: weights adapt_nr_telephone.onnx missing from {tmp_path}")
        with pytest.raises(RuntimeError, match="adapt_nr_telephone.onnx missing"):
            scoreq_module.SCOREQJudge(models_dir=tmp_path).setup()


@pytest.mark.skipif(importlib.util.find_spec("utmosv2") is not None, reason="utmosv2 is installed here")
def test_utmosv2_skipped_with_exact_reason_and_metadata(tmp_path):
    """UNTESTED beyond this: UTMOSv2's loading and seeded scoring (the package cannot be imported
    beside torch 2.13 here)."""
    checkpoint = tmp_path / "fold0_s42_best_model.pth"
    checkpoint.write_bytes(b"")
    judges, skipped = build_mos_judges(["utmosv2"], Settings(utmosv2_checkpoint=checkpoint, mos_seed=11))
    assert judges == []
    assert skipped["utmosv2"] == (
        "utmosv2: package not installed (hyperion-utmosv2 1.3.1 pins torch<=2.9.1 and needs torchvision, "
        "torchaudio and timm; the PyPI torchvision for torch 2.13 fails to import beside this CPU torch: "
        "operator torchvision::nms does not exist)"
    )
    judge = utmosv2_module.UTMOSv2Judge(checkpoint=checkpoint, seed=11, num_repetitions=3, batch_size=4)
    pickle.loads(pickle.dumps(judge))
    info = judge.info
    assert (info.name, info.kind, info.sample_rate, info.device, info.batch_size) == (
        "utmosv2",
        "mos",
        16_000,
        "unloaded",
        4,
    )
    assert "seed 11, 3 repetition(s)" in info.version and "fusion_stage3" in info.model
    with pytest.raises(RuntimeError, match="utmosv2: package not installed"):
        judge.setup()
    with pytest.raises(RuntimeError, match="setup"):
        judge.judge_batch([AudioItem("k", "x.wav")])
