"""Batched Kokoro-82M inference on the official ``kokoro.KModel`` weights.

``KModel.forward_with_tokens`` only works at batch size 1: it squeezes the batch, runs its
LSTMs unpacked and normalises over the whole (padded) time axis.  This module re-runs the same
modules with every statistic and recurrence restricted to each row's own length, following
``shared/docs/BATCHING.md``:

* text half: real attention mask for PL-BERT, packed duration LSTM, padded tokens get 0 frames;
* alignment as a ``[B, T, F]`` one-hot built from each row's cumulative durations;
* frame half: packed ``shared`` LSTM, InstanceNorm statistics over valid frames only (all 70
  sites), re-zeroing after every AdaIN, conv and transposed conv, per-row reflect padding for
  the harmonic STFT, zeroed padded frames, and an iSTFT whose overlap-add envelope is per row.

The vocoder draws noise (``SineGen``).  With a seed, row ``b`` draws exactly what the stock
model draws for that item alone after ``torch.manual_seed(seed)`` (same shapes, same order),
so a batched clip reproduces the solo clip up to float rounding.  The vocoder is chaotic in F0
(near-zero STFT bins flip phase), so equivalence is judged by identical durations, close
intermediates and a log-spectral distance within the solo-vs-solo noise floor, never by
sample equality.

Example::

    kmodel = KModel(repo_id="hexgrad/Kokoro-82M", config=config, model="kokoro.pth").eval()
    outputs = synthesize_batch(kmodel, [BatchItem(ids, ref_s, 1.0, seed=1), ...])
    outputs[0].audio  # float32 tensor, 600 samples per predicted frame
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SAMPLES_PER_FRAME = 600  # 24 kHz, 25 ms per predicted duration frame
HARMONICS = 9  # SineGen: fundamental + 8 overtones


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One utterance: token ids with the two 0 boundary tokens, its ``[1, 256]`` (or ``[256]``)
    style vector, speed, and the seed of its vocoder noise (None = fresh noise)."""

    input_ids: Sequence[int]
    ref_s: torch.Tensor
    speed: float = 1.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class BatchOutput:
    audio: torch.Tensor = field(repr=False)  # [600 * frames] float32
    pred_dur: torch.Tensor  # [tokens] frames per token (long)
    frames: int


@dataclass(frozen=True, slots=True)
class Intermediates:
    """Frame-rate features of a batch, for equivalence tests (rows are padded)."""

    pred_dur: torch.Tensor  # [B, T]
    frame_lengths: torch.Tensor  # [B]
    f0: torch.Tensor  # [B, 2F]
    n: torch.Tensor  # [B, 2F]


# -- masks and masked ops -----------------------------------------------------------------
def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``[B, 1, width]`` float mask, 1 on each row's first ``lengths[b]`` steps."""
    steps = torch.arange(width, device=lengths.device)
    return (steps[None, :] < lengths[:, None]).unsqueeze(1)


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor, norm: nn.InstanceNorm1d) -> torch.Tensor:
    """``nn.InstanceNorm1d`` (no running stats) with mean and biased variance over valid steps."""
    maskf = mask.to(x.dtype)
    count = maskf.sum(-1, keepdim=True).clamp(min=1)
    mean = (x * maskf).sum(-1, keepdim=True) / count
    centred = (x - mean) * maskf
    var = (centred * centred).sum(-1, keepdim=True) / count
    out = centred * torch.rsqrt(var + norm.eps)
    if norm.affine:
        out = out * norm.weight[None, :, None] + norm.bias[None, :, None]
    return out * maskf


def masked_adain(adain: nn.Module, x: torch.Tensor, s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``AdaIN1d`` with masked statistics; ``+ beta`` is re-zeroed on the padding."""
    h = adain.fc(s).unsqueeze(-1)
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    return ((1 + gamma) * masked_instance_norm(x, mask, adain.norm) + beta) * mask


def _zero(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x * mask


def masked_adain_resblk1d(block: nn.Module, x: torch.Tensor, s: torch.Tensor, lengths: torch.Tensor):
    """``AdainResBlk1d`` (predictor F0/N and decoder trunk).  Returns (output, output lengths)."""
    mask = length_mask(lengths, x.shape[-1])
    upsampling = block.upsample_type != "none"
    out_lengths = lengths * 2 if upsampling else lengths
    residual = block.actv(masked_adain(block.norm1, x, s, mask))
    if upsampling:
        residual = block.pool(residual)  # depthwise ConvTranspose: bias lands on the padding
    out_mask = length_mask(out_lengths, residual.shape[-1])
    residual = _zero(block.conv1(_zero(residual, out_mask)), out_mask)
    residual = block.actv(masked_adain(block.norm2, residual, s, out_mask))
    residual = _zero(block.conv2(residual), out_mask)
    shortcut = block._shortcut(x)  # nearest upsample + bias-free 1x1: padding stays 0
    return (residual + shortcut) * torch.rsqrt(torch.tensor(2.0, dtype=x.dtype)), out_lengths


def masked_adain_resblock1(block: nn.Module, x: torch.Tensor, s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``AdaINResBlock1`` (generator), length-preserving."""
    for c1, c2, n1, n2, a1, a2 in zip(
        block.convs1, block.convs2, block.adain1, block.adain2, block.alpha1, block.alpha2, strict=True
    ):
        xt = masked_adain(n1, x, s, mask)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)
        xt = _zero(c1(xt), mask)
        xt = masked_adain(n2, xt, s, mask)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)
        xt = _zero(c2(xt), mask)
        x = xt + x
    return x


def packed_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a batch-first LSTM over ``x`` ``[B, T, C]`` packed by ``lengths``; padding is 0."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    lstm.flatten_parameters()
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def alignment(pred_dur: torch.Tensor, frames: int) -> torch.Tensor:
    """``[B, T, frames]`` one-hot: frame f belongs to token t iff start_t <= f < end_t."""
    ends = pred_dur.cumsum(dim=1)
    starts = ends - pred_dur
    steps = torch.arange(frames, device=pred_dur.device)[None, None, :]
    return ((steps >= starts[..., None]) & (steps < ends[..., None])).float()


# -- noise --------------------------------------------------------------------------------
def draw_sine_noise(items: Sequence[BatchItem], samples: torch.Tensor, width: int, device, dtype) -> torch.Tensor:
    """``[B, width, 9]`` standard normal noise; row ``b`` is what the stock model draws for
    item ``b`` alone after ``manual_seed(seed)`` (``rand(1, 9)`` for the initial phases, then
    ``randn_like`` of the ``[1, samples, 9]`` sines), zero past the row's samples."""
    noise = torch.zeros(len(items), width, HARMONICS, device=device, dtype=dtype)
    for row, (item, n) in enumerate(zip(items, samples.tolist(), strict=True)):
        generator = torch.Generator(device=device)
        if item.seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(item.seed))
        torch.rand(1, HARMONICS, generator=generator, device=device)  # SineGen's rand_ini (no effect)
        # ``randn_like`` of SineGen's [1, n, 9] sines, which are a transposed view: same strides.
        draw = torch.empty_strided((1, n, HARMONICS), (HARMONICS * n, 1, n), device=device, dtype=torch.float32)
        noise[row, :n] = draw.normal_(generator=generator)[0].to(dtype)
    return noise


# -- the two halves -----------------------------------------------------------------------
def _text_half(kmodel: Any, input_ids: torch.Tensor, input_lengths: torch.Tensor, ref_s, speed):
    text_mask = ~length_mask(input_lengths, input_ids.shape[1]).squeeze(1)  # True on padding
    bert_dur = kmodel.bert(input_ids, attention_mask=(~text_mask).int())
    d_en = kmodel.bert_encoder(bert_dur).transpose(-1, -2)
    style = ref_s[:, 128:]
    d = kmodel.predictor.text_encoder(d_en, style, input_lengths, text_mask)
    x = packed_lstm(kmodel.predictor.lstm, d, input_lengths)
    duration = torch.sigmoid(kmodel.predictor.duration_proj(x)).sum(dim=-1) / speed[:, None]
    pred_dur = torch.round(duration).clamp(min=1).long().masked_fill(text_mask, 0)
    t_en = kmodel.text_encoder(input_ids, input_lengths, text_mask)
    return d, t_en, pred_dur


def _f0n(predictor: nn.Module, en: torch.Tensor, style: torch.Tensor, frame_lengths: torch.Tensor):
    shared = packed_lstm(predictor.shared, en.transpose(-1, -2), frame_lengths).transpose(-1, -2)
    outputs = []
    for blocks, proj in ((predictor.F0, predictor.F0_proj), (predictor.N, predictor.N_proj)):
        x, lengths = shared, frame_lengths
        for block in blocks:
            x, lengths = masked_adain_resblk1d(block, x, style, lengths)
        outputs.append(_zero(proj(x), length_mask(lengths, x.shape[-1])).squeeze(1))
    return outputs[0], outputs[1]


def _decoder_trunk(decoder: nn.Module, asr, f0_curve, n_curve, style, frame_lengths):
    mask = length_mask(frame_lengths, asr.shape[-1])
    f0 = _zero(decoder.F0_conv(f0_curve.unsqueeze(1)), mask)
    n = _zero(decoder.N_conv(n_curve.unsqueeze(1)), mask)
    x, lengths = masked_adain_resblk1d(decoder.encode, torch.cat([asr, f0, n], dim=1), style, frame_lengths)
    asr_res = _zero(decoder.asr_res(asr), mask)
    residual = True
    for block in decoder.decode:
        if residual:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x, lengths = masked_adain_resblk1d(block, x, style, lengths)
        if block.upsample_type != "none":
            residual = False
    return x, lengths


def _reflect_rows(signal: torch.Tensor, lengths: torch.Tensor, pad: int) -> torch.Tensor:
    """Each row reflect-padded by ``pad`` about its own ends (``torch.stft(center=True)``)."""
    width = signal.shape[-1] + 2 * pad
    pos = torch.arange(width, device=signal.device)[None, :] - pad
    last = (lengths - 1)[:, None]
    pos = torch.where(pos < 0, -pos, pos)
    pos = torch.where(pos > last, 2 * last - pos, pos).clamp(0, signal.shape[-1] - 1)
    rows = torch.gather(signal, 1, pos)
    return rows * (torch.arange(width, device=signal.device)[None, :] < (lengths + 2 * pad)[:, None])


def _harmonic_source(generator: nn.Module, f0_curve, f0_lengths, noise):
    """SineGen + merge, per row; returns the ``[B, n_fft + 2, frames]`` STFT input ``har``."""
    source = generator.m_source
    sine_gen = source.l_sin_gen
    f0 = generator.f0_upsamp(f0_curve[:, None]).transpose(1, 2)  # [B, samples, 1]
    harmonics = torch.arange(1, sine_gen.harmonic_num + 2, device=f0.device, dtype=f0.dtype)
    rad = (f0 * harmonics / sine_gen.sampling_rate) % 1  # rand_ini is unread (see module doc)
    # Padded F0 is exactly 0, so the phase is held past each row's end: the x300 linear
    # upsample's last half-frame then matches the solo edge clamp.
    rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / sine_gen.upsample_scale, mode="linear")
    phase = torch.cumsum(rad.transpose(1, 2), dim=1) * 2 * math.pi
    phase = F.interpolate(
        phase.transpose(1, 2) * sine_gen.upsample_scale, scale_factor=sine_gen.upsample_scale, mode="linear"
    ).transpose(1, 2)
    sines = torch.sin(phase) * sine_gen.sine_amp
    uv = (f0 > sine_gen.voiced_threshold).to(f0.dtype)
    noise_amp = uv * sine_gen.noise_std + (1 - uv) * sine_gen.sine_amp / 3
    sines = sines * uv + noise_amp * noise
    har_source = source.l_tanh(source.l_linear(sines)).squeeze(-1)  # [B, samples]
    samples = f0_lengths * sine_gen.upsample_scale
    stft = generator.stft
    pad = stft.filter_length // 2
    padded = _reflect_rows(har_source, samples, pad)
    spectrum = torch.stft(
        padded,
        stft.filter_length,
        stft.hop_length,
        stft.win_length,
        window=stft.window.to(device=padded.device, dtype=padded.dtype),
        center=False,
        return_complex=True,
    )
    frame_lengths = samples // stft.hop_length + 1
    frame_mask = length_mask(frame_lengths, spectrum.shape[-1])
    har = torch.cat([torch.abs(spectrum), torch.angle(spectrum)], dim=1)
    return har * frame_mask, frame_lengths


def _istft_rows(stft: nn.Module, magnitude, phase, frame_lengths) -> torch.Tensor:
    """``torch.istft(center=True)`` per row: overlap-add envelope from each row's own frames."""
    n_fft, hop = stft.filter_length, stft.hop_length
    window = stft.window.to(device=magnitude.device, dtype=magnitude.dtype)
    frames = torch.fft.irfft(torch.polar(magnitude, phase), n=n_fft, dim=1) * window[None, :, None]
    count = frames.shape[-1]
    width = n_fft + hop * (count - 1)
    frame_mask = length_mask(frame_lengths, count).to(frames.dtype)
    fold = dict(output_size=(1, width), kernel_size=(1, n_fft), stride=(1, hop))
    ola = F.fold(frames * frame_mask, **fold).reshape(frames.shape[0], width)
    envelope = F.fold((window * window)[None, :, None] * frame_mask, **fold).reshape(frames.shape[0], width)
    audio = torch.where(envelope > 1e-11, ola / envelope.clamp(min=1e-11), torch.zeros_like(ola))
    return audio[:, n_fft // 2 :]


def _generator(generator: nn.Module, x, style, f0_curve, lengths, noise) -> tuple[torch.Tensor, torch.Tensor]:
    """The iSTFTNet generator on ``x`` at 2F frames; returns (audio ``[B, 600 Fmax]``, samples)."""
    har, har_frames = _harmonic_source(generator, f0_curve, lengths, noise)
    for i in range(generator.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        last = i == generator.num_upsamples - 1
        source_lengths = har_frames if last else lengths * generator.ups[i].stride[0]
        source = generator.noise_convs[i](har)
        source_mask = length_mask(source_lengths, source.shape[-1])
        source = masked_adain_resblock1(generator.noise_res[i], _zero(source, source_mask), style, source_mask)
        x = generator.ups[i](x)
        lengths = lengths * generator.ups[i].stride[0]
        if last:
            x = generator.reflection_pad(x)  # left pad: safe per row
            lengths = lengths + 1
        mask = length_mask(lengths, x.shape[-1])
        x = _zero(x, mask) + source
        xs = None
        for j in range(generator.num_kernels):
            out = masked_adain_resblock1(generator.resblocks[i * generator.num_kernels + j], x, style, mask)
            xs = out if xs is None else xs + out
        x = xs / generator.num_kernels
    x = generator.conv_post(F.leaky_relu(x))
    mask = length_mask(lengths, x.shape[-1])
    half = generator.post_n_fft // 2 + 1
    magnitude = torch.exp(x[:, :half, :]) * mask
    phase = torch.sin(x[:, half:, :])
    audio = _istft_rows(generator.stft, magnitude, phase, lengths)
    return audio, (lengths - 1) * generator.stft.hop_length


# -- entry points -------------------------------------------------------------------------
def _pad_inputs(items: Sequence[BatchItem], device, dtype):
    if not items:
        raise ValueError("empty batch")
    lengths = [len(item.input_ids) for item in items]
    if min(lengths) < 3:
        raise ValueError("every item needs at least one phoneme token besides the two boundary tokens")
    input_ids = torch.zeros(len(items), max(lengths), dtype=torch.long, device=device)
    for row, item in enumerate(items):
        input_ids[row, : len(item.input_ids)] = torch.as_tensor(list(item.input_ids), dtype=torch.long)
    ref_s = torch.stack([torch.as_tensor(item.ref_s).reshape(-1) for item in items]).to(device=device, dtype=dtype)
    speed = torch.tensor([float(item.speed) for item in items], device=device, dtype=dtype)
    if not bool((speed > 0).all()):
        raise ValueError("speed must be positive")
    return input_ids, torch.tensor(lengths, dtype=torch.long, device=device), ref_s, speed


def _model_dtype(kmodel: Any) -> tuple[torch.device, torch.dtype]:
    parameter = next(kmodel.parameters())
    return parameter.device, parameter.dtype


@torch.inference_mode()
def forward_batch(
    kmodel: Any, items: Sequence[BatchItem], noise: bool = True
) -> tuple[list[BatchOutput], Intermediates]:
    """Synthesize ``items`` as one padded batch; outputs in input order.  ``noise=False``
    turns the vocoder's noise source off (for exact-equivalence tests)."""
    device, dtype = _model_dtype(kmodel)
    input_ids, input_lengths, ref_s, speed = _pad_inputs(items, device, dtype)
    d, t_en, pred_dur = _text_half(kmodel, input_ids, input_lengths, ref_s, speed)
    frame_lengths = pred_dur.sum(dim=1)  # one host read below decides every later shape
    frames = int(frame_lengths.max())
    aln = alignment(pred_dur, frames).to(dtype)
    style = ref_s[:, 128:]
    en = d.transpose(-1, -2) @ aln
    f0_curve, n_curve = _f0n(kmodel.predictor, en, style, frame_lengths)
    asr = t_en @ aln
    x, lengths = _decoder_trunk(kmodel.decoder, asr, f0_curve, n_curve, ref_s[:, :128], frame_lengths)
    samples = frame_lengths * SAMPLES_PER_FRAME
    width = frames * SAMPLES_PER_FRAME
    if noise:
        sine_noise = draw_sine_noise(items, samples, width, device, dtype)
    else:
        sine_noise = torch.zeros(len(items), width, HARMONICS, device=device, dtype=dtype)
    audio, _ = _generator(kmodel.decoder.generator, x, ref_s[:, :128], f0_curve, lengths, sine_noise)
    outputs = [
        BatchOutput(
            audio=audio[row, : int(samples[row])].float(),
            pred_dur=pred_dur[row, : int(input_lengths[row])].clone(),
            frames=int(frame_lengths[row]),
        )
        for row in range(len(items))
    ]
    return outputs, Intermediates(pred_dur, frame_lengths, f0_curve, n_curve)


def synthesize_batch(kmodel: Any, items: Sequence[BatchItem]) -> list[BatchOutput]:
    return forward_batch(kmodel, items)[0]


# -- grouping -----------------------------------------------------------------------------
def plan_batches(lengths: Sequence[int], max_items: int = 16, max_ratio: float = 1.5) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted by length; a batch closes at
    ``max_items`` or when its longest item would exceed ``max_ratio`` x its shortest), so
    padding stays small.  Every index appears exactly once."""
    if max_items < 1 or max_ratio < 1:
        raise ValueError("max_items must be >= 1 and max_ratio >= 1")
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        if current and (len(current) >= max_items or lengths[index] > max_ratio * max(1, lengths[current[0]])):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
