"""KokoroTorchBackend through the real ``kokoro.KModel`` code path, on a random-weight
checkpoint saved in hexgrad's ``kokoro-v1_0.pth`` layout (the real weights cannot be fetched
offline).  Random weights give noise, not speech: these tests check loading, shapes,
determinism, limits and errors, not audio quality."""

from __future__ import annotations

import hashlib
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kokoro")

from helpers.kokoro_checkpoint import KMODEL_MODULES, random_kokoro_checkpoint  # noqa: E402

from pipeline.tts.backend import SAMPLE_RATE, BackendInfo, style_for  # noqa: E402
from pipeline.tts.torch_backend import (  # noqa: E402
    MAX_PHONEMES,
    MODEL_ENV_VAR,
    SAMPLES_PER_FRAME,
    KokoroTorchBackend,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:dropout option adds dropout:UserWarning"),
    pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[1]
PHONEMES = "hˈɛloʊ wˈɜɹld."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return random_kokoro_checkpoint(tmp_path_factory.mktemp("kokoro") / "kokoro-random.pth", seed=0)


@pytest.fixture(scope="module")
def backend(checkpoint) -> KokoroTorchBackend:
    backend = KokoroTorchBackend(model=str(checkpoint), device="cpu", threads=2)
    backend.setup()
    yield backend
    backend.teardown()


@pytest.fixture(scope="module")
def voice_pack() -> np.ndarray:
    from pipeline.assets import AssetError, AssetPaths, ensure_assets

    cache = REPO_ROOT / ".cache" / "pipeline"
    voice = AssetPaths(cache).voices_dir / "af_heart.bin"
    if not voice.is_file():
        try:
            voice = ensure_assets(cache).voices_dir / "af_heart.bin"
        except AssetError as exc:
            pytest.skip(f"Kokoro voice packs not assembled: {exc}")
    return np.fromfile(voice, dtype=np.float32).reshape(510, 1, 256)


def test_synthesize_returns_float32_mono_audio_of_predicted_length(backend, voice_pack):
    audio, durations = backend.synthesize_with_durations(PHONEMES, voice_pack, speed=1.0, seed=7)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.isfinite(audio).all()
    assert len(durations) == len(PHONEMES) + 2  # every phoneme is in the vocab, plus two boundary tokens
    assert (durations >= 1).all()
    assert len(audio) == SAMPLES_PER_FRAME * int(durations.sum()) > 0
    assert 0 < len(audio) / SAMPLE_RATE < 10
    assert np.array_equal(backend.synthesize(PHONEMES, voice_pack, 1.0, 7), audio)


def test_same_seed_is_bit_identical_and_other_seeds_differ(backend, voice_pack):
    first = backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=1234)
    again = backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=1234)
    other = backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=1235)
    assert np.array_equal(first, again)
    assert first.shape == other.shape  # durations do not depend on the vocoder noise
    assert not np.array_equal(first, other)


def test_unseeded_calls_draw_fresh_noise(backend, voice_pack):
    one = backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=None)
    two = backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=None)
    assert one.shape == two.shape and not np.array_equal(one, two)


def test_seeding_leaves_the_global_rng_alone(backend, voice_pack):
    torch.manual_seed(99)
    before = torch.get_rng_state()
    backend.synthesize(PHONEMES, voice_pack, speed=1.0, seed=5)
    assert torch.equal(torch.get_rng_state(), before)


def test_matches_kmodel_forward_exactly(backend, voice_pack):
    """Token ids, style row and seeding are exactly what ``KModel.forward`` would use."""
    ours = backend.synthesize(PHONEMES, voice_pack, speed=1.1, seed=3)
    ref_s = torch.from_numpy(style_for(voice_pack, PHONEMES))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        theirs = backend._model(PHONEMES, ref_s, 1.1).numpy()
    assert np.array_equal(ours, theirs)


def test_speed_shortens_audio(backend, voice_pack):
    slow = backend.synthesize(PHONEMES, voice_pack, speed=0.5, seed=0)
    fast = backend.synthesize(PHONEMES, voice_pack, speed=2.0, seed=0)
    assert len(fast) < len(slow)
    assert len(backend.synthesize(PHONEMES, voice_pack, speed=np.float32(1.0), seed=0)) > 0


def test_checkpoint_weights_are_really_loaded(backend, checkpoint):
    """KModel's fallback loads with strict=False: make sure every tensor came from the file."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    assert set(saved) == set(KMODEL_MODULES)
    for name in KMODEL_MODULES:
        loaded = getattr(backend._model, name).state_dict()
        assert all(key.startswith("module.") for key in saved[name])  # the real file's layout
        assert {key[7:] for key in saved[name]} == set(loaded)
        for key, tensor in saved[name].items():
            assert torch.equal(loaded[key[7:]], tensor), (name, key)


def test_rejects_bad_input(backend, voice_pack):
    with pytest.raises(ValueError, match="at most 510"):
        backend.synthesize("a" * (MAX_PHONEMES + 1), voice_pack, 1.0, 0)
    assert backend._token_ids("a" * MAX_PHONEMES)  # the limit itself is fine
    with pytest.raises(ValueError, match="vocabulary"):
        backend.synthesize("", voice_pack, 1.0, 0)
    with pytest.raises(ValueError, match="vocabulary"):
        backend.synthesize("\u4e00\u4e8c", voice_pack, 1.0, 0)
    for speed in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="speed"):
            backend.synthesize(PHONEMES, voice_pack, speed, 0)
    with pytest.raises(ValueError, match="style pack"):
        backend.synthesize(PHONEMES, np.zeros((510, 1, 128), np.float32), 1.0, 0)


def test_info_names_model_device_and_checkpoint_hash(backend, checkpoint):
    import kokoro

    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    info = backend.info
    assert isinstance(info, BackendInfo)
    assert info.name == "kokoro-torch"
    assert info.device == "cpu"
    assert info.model == str(checkpoint.resolve())
    assert info.version == f"kokoro-{kokoro.__version__}+{digest[:12]}"
    # Known before setup too (chunk ids need it), and equal.
    assert KokoroTorchBackend(model=str(checkpoint)).info.version == info.version


def test_other_checkpoint_layout_and_version(tmp_path, checkpoint, voice_pack):
    """A checkpoint without the ``module.`` prefix (strict load path) also loads, and a
    different file gives a different engine version."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    plain = {name: {key[7:]: tensor for key, tensor in saved[name].items()} for name in KMODEL_MODULES}
    # Touch only the text encoder (it feeds the decoder, not the duration predictor), so the
    # audio stays as short as the first checkpoint's.
    plain["text_encoder"]["embedding.weight"] = plain["text_encoder"]["embedding.weight"] + 0.01
    path = tmp_path / "kokoro-plain.pth"
    torch.save(plain, path)
    backend = KokoroTorchBackend(model=str(path), device="cpu")
    backend.setup()
    assert torch.equal(backend._model.text_encoder.embedding.weight, plain["text_encoder"]["embedding.weight"])
    assert backend.info.version != KokoroTorchBackend(model=str(checkpoint)).info.version
    assert np.isfinite(backend.synthesize(PHONEMES, voice_pack, 1.0, 0)).all()
    backend.teardown()


def test_checkpoint_missing_tensors_is_an_error(tmp_path, checkpoint):
    """KModel itself would load these silently (strict=False after stripping ``module.``)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    lacking = {name: dict(saved[name]) for name in KMODEL_MODULES}
    lacking["bert_encoder"].pop("module.bias")
    torch.save(lacking, tmp_path / "lacking.pth")
    with pytest.raises(RuntimeError, match=r"module 'bert_encoder' lacks 1 of 2 tensors"):
        KokoroTorchBackend(model=str(tmp_path / "lacking.pth"), device="cpu").setup()

    torch.save(
        {"bert_encoder": lacking["bert_encoder"] | {"module.bias": saved["bert_encoder"]["module.bias"]}},
        tmp_path / "partial.pth",
    )
    with pytest.raises(RuntimeError, match="missing modules"):
        KokoroTorchBackend(model=str(tmp_path / "partial.pth"), device="cpu").setup()

    torch.save({"weights": torch.zeros(3)}, tmp_path / "alien.pth")
    with pytest.raises(RuntimeError, match="could not load Kokoro torch checkpoint"):
        KokoroTorchBackend(model=str(tmp_path / "alien.pth"), device="cpu").setup()


def test_missing_local_checkpoint_is_a_clear_error(tmp_path):
    backend = KokoroTorchBackend(model=str(tmp_path / "nope" / "kokoro-v1_0.pth"), device="cpu")
    with pytest.raises(RuntimeError, match="does not exist") as err:
        backend.setup()
    assert MODEL_ENV_VAR in str(err.value)


def test_hub_id_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # read once at import
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # no cached copy
    backend = KokoroTorchBackend(model="hexgrad/Kokoro-82M", device="cpu")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="could not fetch the Kokoro torch weights") as err:
        backend.setup()
    assert time.monotonic() - started < 10
    assert MODEL_ENV_VAR in str(err.value) and "kokoro-v1_0.pth" in str(err.value)
    with pytest.raises(RuntimeError, match="setup"):
        backend.info  # noqa: B018 - a hub model's version needs the downloaded file


def test_unknown_hub_repo_is_a_clear_error():
    with pytest.raises(RuntimeError, match="unknown Kokoro hub repo"):
        KokoroTorchBackend(model="someone/some-model", device="cpu").setup()


def test_device_errors():
    with pytest.raises(ValueError, match="invalid torch device"):
        KokoroTorchBackend(device="gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            KokoroTorchBackend(model="/nonexistent.pth", device="cuda").setup()


def test_synthesize_before_setup_is_an_error(checkpoint, voice_pack):
    with pytest.raises(RuntimeError, match="setup"):
        KokoroTorchBackend(model=str(checkpoint)).synthesize(PHONEMES, voice_pack, 1.0, 0)


def test_pickles_before_and_after_setup(checkpoint, backend, voice_pack):
    fresh = KokoroTorchBackend(model=str(checkpoint), device="auto", threads=1)
    clone = pickle.loads(pickle.dumps(fresh))
    assert (clone.model, clone.device, clone.threads) == (fresh.model, "auto", 1)
    assert clone._model is None

    loaded_clone = pickle.loads(pickle.dumps(backend))  # the model itself never travels
    assert loaded_clone._model is None and backend._model is not None
    with pytest.raises(RuntimeError, match="setup"):
        loaded_clone.synthesize(PHONEMES, voice_pack, 1.0, 0)
