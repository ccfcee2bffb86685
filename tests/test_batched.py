"""Batched Kokoro synthesis (``pipeline.tts.batched``) against the stock one-at-a-time
``KModel.forward_with_tokens``.

Equivalence, as ``shared/docs/BATCHING.md`` defines it: identical durations, frame-rate
intermediates within float tolerance, padded tails exactly zero, and audio within the
solo-vs-solo spectral noise floor (the vocoder is chaotic in F0, so sample equality is not a
valid target).  A seeded batched row draws the same vocoder noise as the seeded solo call, so
with real weights the batched audio sits far below that floor.

The masked ops are checked one by one against the stock op on each row's own slice; the whole
forward pass on a random-weight ``KModel`` (fast) and on the checkpoint rebuilt from the
embedded int8 ONNX (real weights, built by ``pipeline assets``).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kokoro")

import torch.nn.functional as F  # noqa: E402
from helpers.kokoro_checkpoint import build_random_kmodel  # noqa: E402

from pipeline.tts import batched  # noqa: E402
from pipeline.tts.backend import style_for  # noqa: E402
from pipeline.tts.batched import BatchItem, forward_batch, plan_batches  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:dropout option adds dropout:UserWarning"),
    pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning"),
]

SENTENCES = (
    "Down, down, down.",
    "Alice was beginning to get very tired.",
    "There was nothing so very remarkable in that.",
)


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def log_spectral_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |log10 magnitude| difference over a 1024-point STFT (the BATCHING.md metric)."""
    window = torch.hann_window(1024)
    spec_a = torch.stft(a, 1024, 256, window=window, return_complex=True).abs() + 1e-5
    spec_b = torch.stft(b, 1024, 256, window=window, return_complex=True).abs() + 1e-5
    return float((spec_a.log10() - spec_b.log10()).abs().mean())


def solo_stock(kmodel, item: BatchItem, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: ``KModel.forward_with_tokens`` on one item, noise seeded like the backend."""
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(item.seed if seed is None else seed)
        audio, durations = kmodel.forward_with_tokens(
            torch.tensor([list(item.input_ids)]), torch.as_tensor(item.ref_s).reshape(1, -1), item.speed
        )
    return audio.reshape(-1), durations.reshape(-1)


# -- masked ops against the stock op on each row's slice ---------------------------------
LENGTHS = [37, 12, 50, 1]


def test_masked_instance_norm_matches_instance_norm_on_each_row():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 50, dtype=torch.float64) * 3 + 1
    norm = torch.nn.InstanceNorm1d(6, affine=True).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    out = batched.masked_instance_norm(x, LENGTHS, norm)
    for row, length in enumerate(LENGTHS):
        if length > 1:  # the stock op refuses a single step; the masked one returns the bias
            expected = norm(x[row : row + 1, :, :length])[0]
            assert torch.allclose(out[row, :, :length], expected, atol=1e-12)
        else:
            assert torch.equal(out[row, :, 0], norm.bias.detach())
        assert torch.all(out[row, :, length:] == 0)


def test_reflect_rows_matches_center_padding_of_each_row():
    torch.manual_seed(1)
    signal = torch.randn(3, 400, dtype=torch.float64)
    lengths = [400, 257, 31]
    padded = batched._reflect_rows(signal, lengths, 10)
    for row, length in enumerate(lengths):
        expected = F.pad(signal[row : row + 1, :length][None], (10, 10), mode="reflect")[0, 0]
        assert torch.equal(padded[row, : length + 20], expected)
        assert torch.all(padded[row, length + 20 :] == 0)


def test_istft_rows_matches_torch_istft_on_each_row():
    from kokoro.istftnet import TorchSTFT

    stft = TorchSTFT(20, 5, 20)
    torch.manual_seed(2)
    frames = [241, 121, 13]
    magnitude = torch.exp(torch.randn(3, 11, 241, dtype=torch.float64))
    phase = torch.sin(torch.randn(3, 11, 241, dtype=torch.float64))
    audio = batched._istft_rows(stft, magnitude, phase, frames)
    for row, count in enumerate(frames):
        window = stft.window.double()
        spectrum = magnitude[row, :, :count] * torch.exp(phase[row, :, :count] * 1j)
        expected = torch.istft(spectrum, 20, 5, 20, window=window)
        assert expected.numel() == 5 * (count - 1)
        assert torch.allclose(audio[row, : expected.numel()], expected, atol=1e-12)


def test_alignment_matches_repeat_interleave():
    durations = torch.tensor([[2, 1, 3, 0, 0], [1, 1, 1, 1, 4]])
    aln = batched.alignment(durations, 8)
    for row in range(2):
        tokens = torch.repeat_interleave(torch.arange(5), durations[row])
        expected = torch.zeros(5, 8)
        expected[tokens, torch.arange(tokens.numel())] = 1
        assert torch.equal(aln[row], expected)


def test_plan_batches_groups_similar_lengths_and_keeps_every_item():
    lengths = [10, 400, 12, 15, 300, 11, 16, 14, 500, 13]
    groups = plan_batches(lengths, max_items=3, max_ratio=1.5)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for group in groups:
        sizes = [lengths[i] for i in group]
        assert len(group) <= 3
        assert max(sizes) <= 1.5 * min(sizes)
    assert plan_batches([], 4) == []
    with pytest.raises(ValueError):
        plan_batches([1, 2], max_items=0)


# -- whole forward pass, random weights ----------------------------------------------------
@pytest.fixture(scope="module")
def random_kmodel():
    torch.set_num_threads(2)
    kmodel = build_random_kmodel(seed=0)
    flushed = torch.set_flush_denormal(True)  # random weights drive activations into denormals (slow)
    yield kmodel
    if flushed:
        torch.set_flush_denormal(False)


def random_items(kmodel, g2p, seeds=(11, 12, 13)) -> list[BatchItem]:
    rng = np.random.default_rng(0)
    items = []
    for text, seed in zip(SENTENCES, seeds, strict=True):
        phonemes = g2p.phonemize(text).phonemes
        ids = [0, *(kmodel.vocab[c] for c in phonemes if c in kmodel.vocab), 0]
        style = torch.from_numpy((rng.standard_normal(256) * 0.3).astype(np.float32))
        items.append(BatchItem(ids, style, 1.0 + 0.1 * len(items), seed))
    return items


def test_batch_of_one_reproduces_the_stock_model(random_kmodel, g2p):
    for item in random_items(random_kmodel, g2p):
        audio, durations = solo_stock(random_kmodel, item)
        (out,), _ = forward_batch(random_kmodel, [item])
        assert torch.equal(out.pred_dur, durations)
        assert out.audio.shape == audio.shape == (600 * int(durations.sum()),)
        assert rel_l2(out.audio, audio) < 1e-4


def test_batched_rows_match_solo_rows_random_weights(random_kmodel, g2p):
    items = random_items(random_kmodel, g2p)
    outputs, inter = forward_batch(random_kmodel, items)
    frames = [out.frames for out in outputs]
    assert len(set(frames)) == len(frames), "the items must differ in length for this test to mean anything"
    for row, item in enumerate(items):
        (solo,), solo_inter = forward_batch(random_kmodel, [item])
        assert torch.equal(outputs[row].pred_dur, solo.pred_dur)
        width = 2 * solo.frames
        assert rel_l2(inter.f0[row, :width], solo_inter.f0[0]) < 1e-4
        assert rel_l2(inter.n[row, :width], solo_inter.n[0]) < 1e-4
        assert torch.all(inter.f0[row, width:] == 0) and torch.all(inter.n[row, width:] == 0)
        assert torch.all(inter.pred_dur[row, len(item.input_ids) :] == 0)
        assert outputs[row].audio.shape == solo.audio.shape
        assert rel_l2(outputs[row].audio, solo.audio) < 1e-3
    # The order of the batch does not matter.
    reversed_outputs, _ = forward_batch(random_kmodel, items[::-1])
    for out, rev in zip(outputs, reversed_outputs[::-1], strict=True):
        assert torch.equal(out.pred_dur, rev.pred_dur)
        assert rel_l2(rev.audio, out.audio) < 1e-3


def test_forward_batch_rejects_empty_input(random_kmodel):
    with pytest.raises(ValueError, match="empty batch"):
        forward_batch(random_kmodel, [])
    with pytest.raises(ValueError, match="at least one phoneme"):
        forward_batch(random_kmodel, [BatchItem([0, 0], torch.zeros(256), 1.0, 1)])


# -- real weights: the checkpoint rebuilt from the embedded int8 ONNX ------------------------
@pytest.fixture(scope="module")
def real_kmodel():
    from kokoro import KModel

    from pipeline.assets import ensure_assets
    from pipeline.settings import get_settings
    from pipeline.tts.backend import kokoro_config
    from pipeline.tts.onnx_to_torch import assemble_torch_checkpoint

    checkpoint = assemble_torch_checkpoint(ensure_assets(get_settings().cache_dir))
    torch.set_num_threads(2)
    return KModel(repo_id="hexgrad/Kokoro-82M", config=kokoro_config(), model=str(checkpoint)).eval()


@pytest.fixture(scope="module")
def af_heart_pack():
    from pipeline.settings import get_settings
    from pipeline.tts.engine import build_voice_store

    return build_voice_store(get_settings()).resolve("af_heart").pack


def test_batched_rows_match_solo_rows_real_weights(real_kmodel, af_heart_pack, g2p):
    items = []
    for index, text in enumerate(SENTENCES):
        phonemes = g2p.phonemize(text).phonemes
        ids = [0, *(real_kmodel.vocab[c] for c in phonemes if c in real_kmodel.vocab), 0]
        items.append(BatchItem(ids, torch.from_numpy(style_for(af_heart_pack, phonemes)), 1.0, 1000 + index))
    outputs, inter = forward_batch(real_kmodel, items)
    assert len({len(item.input_ids) for item in items}) == len(items)
    for row, item in enumerate(items):
        audio, durations = solo_stock(real_kmodel, item)
        other_seed, _ = solo_stock(real_kmodel, item, seed=item.seed + 77)
        out = outputs[row]
        assert torch.equal(out.pred_dur, durations), "durations must be identical"
        assert out.audio.shape == audio.shape
        assert torch.all(inter.f0[row, 2 * out.frames :] == 0)
        floor = log_spectral_distance(other_seed, audio)  # solo vs solo, different noise
        distance = log_spectral_distance(out.audio, audio)  # batched vs solo, same noise
        assert floor > 0.02, "two seeds must give measurably different audio"
        assert distance < 0.5 * floor, (row, distance, floor)
        assert rel_l2(out.audio, audio) < 0.05
        assert float(out.audio.abs().max()) > 0.05  # speech, not silence


# -- the generate stage with batched synthesis -------------------------------------------------
def test_synthesize_stage_batches_chunks_and_writes_the_same_clips(tmp_path, g2p):
    """``SynthesizeStage(synthesis_batch=3)`` on the torch backend: one padded pass per length
    group, the same clips (ids, paths, lengths) as one-at-a-time, audio within float noise."""
    import soundfile as sf
    from helpers.kokoro_checkpoint import random_kokoro_checkpoint

    from pipeline.chunking import chunk_book
    from pipeline.ingest import read_book
    from pipeline.settings import get_settings
    from pipeline.stages.synthesize import SynthesizeStage, plan_jobs
    from pipeline.tts.engine import TTSEngine, build_voice_store
    from pipeline.tts.torch_backend import KokoroTorchBackend

    book_path = tmp_path / "tiny.txt"
    book_path.write_text(
        "CHAPTER I.\n\nDown, down, down.\n\nAlice was beginning to get very tired.\n\n"
        "There was nothing so very remarkable in that.\n\nSo she was considering in her own mind.\n",
        encoding="utf-8",
    )
    chunks = chunk_book(read_book(book_path), g2p, target_words=8)
    assert len(chunks) >= 4
    checkpoint = random_kokoro_checkpoint(tmp_path / "kokoro-random.pth", seed=0)
    voices = build_voice_store(get_settings())
    records = {}
    for synthesis_batch in (1, 3):
        engine = TTSEngine(KokoroTorchBackend(str(checkpoint), device="cpu", threads=2), voices, g2p)
        resolved = engine.resolve_voice("af_heart")
        jobs = plan_jobs(chunks, [("af_heart", resolved)], dataset="t", speed=1.0, seed=0, fingerprint="f")
        stage = SynthesizeStage(
            engine,
            {resolved.canonical: resolved},
            tmp_path / f"b{synthesis_batch}",
            None,
            synthesis_batch=synthesis_batch,
        )
        ordered = stage.arrange(jobs)
        if synthesis_batch > 1:
            assert stage.batches_synthesis
            assert [len(j.chunk.phonemes) for j in ordered] == sorted(len(j.chunk.phonemes) for j in jobs)
        stage.setup()
        try:
            results = stage.process_batch(ordered)
        finally:
            stage.teardown()
        assert all(not hasattr(r, "error") for r in results), results
        records[synthesis_batch] = {r.id: r for r in results}
    one, batch = records[1], records[3]
    assert one.keys() == batch.keys()
    errors = []
    for clip_id, solo in one.items():
        rec = batch[clip_id]
        assert (rec.wav_path, rec.n_samples, rec.seed) == (solo.wav_path, solo.n_samples, solo.seed)
        a, _ = sf.read(tmp_path / "b1" / solo.wav_path, dtype="float32")
        b, _ = sf.read(tmp_path / "b3" / rec.wav_path, dtype="float32")
        errors.append(np.linalg.norm(a - b) / np.linalg.norm(a))
    # The vocoder is chaotic in F0: a rare clip moves by a percent when one near-zero STFT bin
    # flips phase (BATCHING.md); the rest agree to PCM16 rounding.
    assert max(errors) < 0.05, errors
    assert np.median(errors) < 1e-3, errors


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batched_rows_match_solo_rows_on_cuda(real_kmodel, af_heart_pack, g2p):
    """The same equivalence on a GPU (TF32 off, fp32): exact durations, audio within the floor."""
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    kmodel = real_kmodel.to("cuda")
    try:
        items = []
        for index, text in enumerate(SENTENCES):
            phonemes = g2p.phonemize(text).phonemes
            ids = [0, *(kmodel.vocab[c] for c in phonemes if c in kmodel.vocab), 0]
            items.append(BatchItem(ids, torch.from_numpy(style_for(af_heart_pack, phonemes)), 1.0, 1000 + index))
        outputs, _ = forward_batch(kmodel, items)
        for row, item in enumerate(items):
            (solo,), _ = forward_batch(kmodel, [item])
            (other,), _ = forward_batch(kmodel, [BatchItem(item.input_ids, item.ref_s, 1.0, item.seed + 77)])
            assert torch.equal(outputs[row].pred_dur, solo.pred_dur)
            floor = log_spectral_distance(other.audio.cpu(), solo.audio.cpu())
            assert log_spectral_distance(outputs[row].audio.cpu(), solo.audio.cpu()) < 0.5 * floor
    finally:
        real_kmodel.to("cpu")
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
