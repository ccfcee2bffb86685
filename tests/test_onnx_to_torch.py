"""The torch checkpoint rebuilt from the int8 ONNX (``pipeline/tts/onnx_to_torch.py``): complete,
strict-loading, finite, and speaking like the ONNX model it came from.

The checkpoint is the cached asset that ``pipeline assets`` builds (``ensure_assets(...,
torch_checkpoint=True)``: ~20 s the first time, a stat afterwards), so these tests convert at most
once. The comparison runs real models end to end on one Alice sentence: KModel on the rebuilt
weights, the int8 ONNX through onnxruntime, and the embedded Whisper base as the judge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kokoro")
onnx = pytest.importorskip("onnx")

from pipeline.assets import EMBEDDED_TORCH_MODEL, ONNX_SHA256, AssetPaths, ensure_assets  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.tts.backend import SAMPLE_RATE, phonemes_to_ids, style_for  # noqa: E402
from pipeline.tts.onnx_to_torch import (  # noqa: E402
    CONVERTER_VERSION,
    KMODEL_KEY_COUNT,
    KMODEL_MODULES,
    assemble_torch_checkpoint,
    build_empty_kmodel,
    is_current,
    load_strict,
    read_sidecar,
    rebuild_state_dict,
)
from pipeline.tts.torch_backend import SAMPLES_PER_FRAME, KokoroTorchBackend  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:dropout option adds dropout:UserWarning"),
    pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning"),
]

SENTENCE = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."
# The int8 ONNX was exported with its iSTFT window sum frozen: it is 1.5x (+3.5 dB) louder than
# KModel (docs/FACTS.md). Vocoder noise and +-1 frame differences move the ratio a little.
LOUDNESS_RATIO = (1.3, 1.7)
# The ONNX tensor holding the per-token durations (rounded, clipped at 1 frame) before expansion.
ONNX_DURATIONS = "/encoder/Clip_output_0"


@pytest.fixture(scope="module")
def paths() -> AssetPaths:
    paths = ensure_assets(Settings().cache_dir)
    assemble_torch_checkpoint(paths)
    return paths


@pytest.fixture(scope="module")
def checkpoint(paths) -> dict:
    return torch.load(paths.torch_checkpoint, map_location="cpu", weights_only=True, mmap=True)


@pytest.fixture(scope="module")
def flat_state(checkpoint) -> dict:
    return {f"{module}.{key[len('module.') :]}": t for module, state in checkpoint.items() for key, t in state.items()}


def test_checkpoint_has_every_kmodel_key_in_hexgrads_layout(checkpoint, flat_state):
    assert list(checkpoint) == list(KMODEL_MODULES)
    assert all(key.startswith("module.") for state in checkpoint.values() for key in state)
    fresh = build_empty_kmodel().state_dict()
    assert len(fresh) == KMODEL_KEY_COUNT == 688
    assert set(flat_state) == set(fresh)
    assert all(tuple(flat_state[k].shape) == tuple(v.shape) for k, v in fresh.items())
    assert all(t.dtype == torch.float32 for t in flat_state.values())


def test_loads_strictly_into_a_fresh_kmodel(flat_state):
    kmodel = build_empty_kmodel()
    load_strict(kmodel, flat_state)  # raises with the missing/unexpected keys otherwise
    assert torch.equal(kmodel.decoder.generator.conv_post.weight_v, flat_state["decoder.generator.conv_post.weight_v"])
    broken = dict(flat_state)
    broken.pop("predictor.lstm.weight_hh_l0_reverse")
    broken["predictor.extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing \['predictor.lstm.weight_hh_l0_reverse'\].*predictor.extra"):
        load_strict(build_empty_kmodel(), broken)


def test_weights_are_finite_and_weight_norm_never_divides_by_zero(flat_state, paths):
    assert all(torch.isfinite(t).all() for t in flat_state.values())
    zeroed = 0
    pairs = [k[: -len(".weight_g")] for k in flat_state if k.endswith(".weight_g")]
    assert len(pairs) == 89  # every weight_norm conv of Kokoro-82M
    for module in pairs:
        g, v = flat_state[f"{module}.weight_g"], flat_state[f"{module}.weight_v"]
        weight = torch._weight_norm(v, g, 0)  # exactly what torch's weight_norm hook computes
        assert torch.isfinite(weight).all(), module
        dead = g.reshape(-1) == 0
        zeroed += int(dead.sum())
        assert torch.all(v[dead] == 1.0), module  # g = 0, v = 1 where quantization zeroed a channel
        assert torch.all(v.reshape(v.shape[0], -1).norm(dim=1) > 0), module
    info = read_sidecar(paths.torch_checkpoint)
    assert zeroed == sum(info["zeroed_weight_norm_channels"].values()) == 94  # 94 channels in 18 convs (FACTS)
    assert len(info["zeroed_weight_norm_channels"]) == 18
    # Not in the graph: identity AdaIN InstanceNorm affine parameters and a zero (unused) pooler.
    assert torch.all(flat_state["decoder.encode.norm1.norm.weight"] == 1)
    assert torch.all(flat_state["decoder.encode.norm1.norm.bias"] == 0)
    assert torch.all(flat_state["bert.pooler.weight"] == 0)


def test_provenance_sidecar_and_idempotent_build(paths):
    info = read_sidecar(paths.torch_checkpoint)
    assert paths.torch_checkpoint_info.is_file()
    assert info["source_onnx_sha256"] == ONNX_SHA256
    assert info["converter_version"] == CONVERTER_VERSION
    assert info["tensors"] == 688 and info["size"] == paths.torch_checkpoint.stat().st_size
    assert is_current(paths.torch_checkpoint, ONNX_SHA256)
    assert not is_current(paths.torch_checkpoint, "0" * 64)  # another ONNX means a rebuild
    mtime = paths.torch_checkpoint.stat().st_mtime_ns
    assemble_torch_checkpoint(ensure_assets(paths.cache_dir))  # already built: nothing is rewritten
    assert paths.torch_checkpoint.stat().st_mtime_ns == mtime


def test_rebuild_is_deterministic(paths, flat_state):
    state, stats = rebuild_state_dict(paths.onnx_model)
    assert list(state) == list(build_empty_kmodel().state_dict())
    assert all(torch.equal(state[k], flat_state[k]) for k in state)
    assert stats["by_op"]["MatMulInteger"] == 148 and stats["by_op"]["ConvInteger"] == 87


def test_embedded_default_resolves_to_the_rebuilt_checkpoint(paths):
    from pipeline.doctor import check_torch_weights
    from pipeline.tts.engine import engine_fingerprint, make_backend

    settings = Settings(tts_backend="torch", cache_dir=paths.cache_dir)
    assert Settings.model_fields["kokoro_torch_model"].default == EMBEDDED_TORCH_MODEL
    backend = make_backend(settings, paths)
    assert isinstance(backend, KokoroTorchBackend)
    assert Path(backend.model) == paths.torch_checkpoint and backend.is_local
    sha = read_sidecar(paths.torch_checkpoint)["sha256"]
    assert engine_fingerprint(settings) == f"kokoro-torch+{sha[:12]}"
    assert "rebuilt from the int8 ONNX" in check_torch_weights(settings)
    # A local path (or hub id) set by the user still passes through unchanged.
    custom = Settings(tts_backend="torch", kokoro_torch_model="/models/kokoro-v1_0.pth", cache_dir=paths.cache_dir)
    assert make_backend(custom, paths).model == "/models/kokoro-v1_0.pth"


# --- against the ONNX model, and heard by Whisper ------------------------------------------


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio.astype(np.float64)))))


@pytest.fixture(scope="module")
def phonemes(g2p) -> str:
    result = g2p.phonemize(SENTENCE)
    assert not result.unspoken
    return result.phonemes


@pytest.fixture(scope="module")
def voice_pack(paths) -> np.ndarray:
    return np.fromfile(paths.voices_dir / "af_heart.bin", dtype=np.float32).reshape(510, 1, 256)


@pytest.fixture(scope="module")
def torch_render(paths, phonemes, voice_pack):
    backend = KokoroTorchBackend(model=str(paths.torch_checkpoint), device="cpu", threads=2)
    backend.setup()
    try:
        return backend.synthesize_with_durations(phonemes, voice_pack, speed=1.0, seed=0)
    finally:
        backend.teardown()


@pytest.fixture(scope="module")
def onnx_render(paths, phonemes, voice_pack):
    """The int8 ONNX's audio and its per-token durations: the graph's duration tensor is added
    as a second output (the shipped graph returns audio only)."""
    import onnxruntime as ort

    model = onnx.load(str(paths.onnx_model))
    model.graph.output.append(onnx.helper.make_tensor_value_info(ONNX_DURATIONS, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {
        "tokens": np.asarray([phonemes_to_ids(phonemes)], dtype=np.int64),
        "style": style_for(voice_pack, phonemes),
        "speed": np.asarray([1.0], dtype=np.float32),
    }
    audio, durations = session.run(None, feeds)
    return np.asarray(audio, dtype=np.float32).reshape(-1), durations.reshape(-1).astype(np.int64)


def test_durations_and_loudness_match_the_onnx_model(torch_render, onnx_render, phonemes, voice_pack, paths):
    from pipeline.tts.onnx_backend import KokoroOnnxBackend

    audio_t, dur_t = torch_render
    audio_o, dur_o = onnx_render
    shipped = KokoroOnnxBackend(paths.onnx_model, device="cpu", threads=2)
    shipped.setup()
    assert np.array_equal(shipped.synthesize(phonemes, voice_pack, 1.0, None), audio_o)  # same graph, same audio
    assert len(dur_t) == len(dur_o) == len(phonemes_to_ids(phonemes))
    assert len(audio_t) == SAMPLES_PER_FRAME * int(dur_t.sum())
    assert len(audio_o) == SAMPLES_PER_FRAME * int(dur_o.sum())
    diff = np.abs(dur_t - dur_o)
    assert diff.max() <= 1, f"durations differ by up to {diff.max()} frames"
    assert np.mean(diff == 0) >= 0.9, f"only {np.mean(diff == 0):.0%} of token durations equal"
    assert abs(int(dur_t.sum()) - int(dur_o.sum())) <= 0.03 * dur_o.sum()
    ratio = _rms(audio_o) / _rms(audio_t)
    assert LOUDNESS_RATIO[0] < ratio < LOUDNESS_RATIO[1], f"ONNX/torch RMS ratio {ratio:.3f}"
    assert np.isfinite(audio_t).all() and np.abs(audio_t).max() < 1.0


def test_rebuilt_model_speaks_the_sentence(torch_render, tmp_path):
    import soundfile as sf

    from judges.base import AudioItem
    from judges.registry import build_asr
    from verdicts.align import word_error_rate
    from verdicts.normalize import normalize

    audio, _ = torch_render
    wav = tmp_path / "alice.wav"
    sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
    judge = build_asr("whisper", Settings())
    judge.setup()
    transcript = judge.judge_batch([AudioItem("alice", str(wav))])[0]
    assert transcript.error is None
    wer = word_error_rate(normalize(SENTENCE).tokens, normalize(transcript.text).tokens)
    assert wer <= 0.1, f"WER {wer:.2f}: {transcript.text!r}"
