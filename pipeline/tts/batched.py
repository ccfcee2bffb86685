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
# Frame-side lengths are plain ``list[int]`` (one host read after the duration step), so full
# rows take the stock kernels and only the padding of short rows is touched.
Lengths = list[int]


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``[B, 1, width]`` bool mask, True on each row's first ``lengths[b]`` steps."""
    steps = torch.arange(width, device=lengths.device)
    return (steps[None, :] < lengths[:, None]).unsqueeze(1)


def zero_tail_(x: torch.Tensor, lengths: Lengths) -> torch.Tensor:
    """In place: zero every row past its length along the last axis (convs and ``+ beta``
    write into the padding; later statistics and convs must read zeros there)."""
    for row, length in enumerate(lengths):
        if length < x.shape[-1]:
            x[row, ..., length:] = 0
    return x


def masked_instance_norm(x: torch.Tensor, lengths: Lengths, norm: nn.InstanceNorm1d) -> torch.Tensor:
    """``nn.InstanceNorm1d`` (no running stats) with statistics over each row's valid steps;
    the padding comes out zero."""
    weight = norm.weight if norm.affine else None
    bias = norm.bias if norm.affine else None
    width = x.shape[-1]
    if all(length == width for length in lengths):
        return F.instance_norm(x, weight=weight, bias=bias, eps=norm.eps)
    out = torch.zeros_like(x)
    for row, length in enumerate(lengths):
        if length < 2:  # zero variance: (x - mean) is 0, only the affine bias is left
            out[row, :, :length] = 0 if bias is None else bias[:, None]
            continue
        out[row : row + 1, :, :length] = F.instance_norm(
            x[row : row + 1, :, :length], weight=weight, bias=bias, eps=norm.eps
        )
    return out


def masked_adain(adain: nn.Module, x: torch.Tensor, s: torch.Tensor, lengths: Lengths) -> torch.Tensor:
    """``AdaIN1d`` with masked statistics; ``+ beta`` is re-zeroed on the padding."""
    h = adain.fc(s).unsqueeze(-1)
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    return zero_tail_(torch.addcmul(beta, 1 + gamma, masked_instance_norm(x, lengths, adain.norm)), lengths)


def masked_adain_resblk1d(block: nn.Module, x: torch.Tensor, s: torch.Tensor, lengths: Lengths):
    """``AdainResBlk1d`` (predictor F0/N and decoder trunk).  Returns (output, output lengths)."""
    upsampling = block.upsample_type != "none"
    out_lengths = [2 * length for length in lengths] if upsampling else lengths
    residual = block.actv(masked_adain(block.norm1, x, s, lengths))
    if upsampling:
        residual = zero_tail_(block.pool(residual), out_lengths)  # depthwise ConvTranspose adds bias
    residual = zero_tail_(block.conv1(residual), out_lengths)
    residual = block.actv(masked_adain(block.norm2, residual, s, out_lengths))
    residual = zero_tail_(block.conv2(residual), out_lengths)
    shortcut = block._shortcut(x)  # nearest upsample + bias-free 1x1: padding stays 0
    return (residual + shortcut) * torch.rsqrt(torch.tensor(2.0, dtype=x.dtype)), out_lengths


def masked_adain_resblock1(block: nn.Module, x: torch.Tensor, s: torch.Tensor, lengths: Lengths) -> torch.Tensor:
    """``AdaINResBlock1`` (generator), length-preserving."""
    for c1, c2, n1, n2, a1, a2 in zip(
        block.convs1, block.convs2, block.adain1, block.adain2, block.alpha1, block.alpha2, strict=True
    ):
        xt = masked_adain(n1, x, s, lengths)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)
        xt = zero_tail_(c1(xt), lengths)
        xt = masked_adain(n2, xt, s, lengths)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)
        xt = zero_tail_(c2(xt), lengths)
        x = xt + x
    return x


def packed_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor | Lengths) -> torch.Tensor:
    """Run a batch-first LSTM over ``x`` ``[B, T, C]`` packed by ``lengths``; padding is 0."""
    lengths = torch.as_tensor(lengths).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
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
def draw_sine_noise(items: Sequence[BatchItem], samples: Lengths, width: int, device, dtype) -> torch.Tensor:
    """``[B, width, 9]`` standard normal noise; row ``b`` is what the stock model draws for
    item ``b`` alone after ``manual_seed(seed)`` (``rand(1, 9)`` for the initial phases, then
    ``randn_like`` of the ``[1, samples, 9]`` sines), zero past the row's samples."""
    noise = torch.zeros(len(items), width, HARMONICS, device=device, dtype=dtype)
    for row, (item, n) in enumerate(zip(items, samples, strict=True)):
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


def _f0n(predictor: nn.Module, en: torch.Tensor, style: torch.Tensor, frame_lengths: Lengths):
    shared = packed_lstm(predictor.shared, en.transpose(-1, -2), frame_lengths).transpose(-1, -2)
    outputs = []
    for blocks, proj in ((predictor.F0, predictor.F0_proj), (predictor.N, predictor.N_proj)):
        x, lengths = shared, frame_lengths
        for block in blocks:
            x, lengths = masked_adain_resblk1d(block, x, style, lengths)
        outputs.append(zero_tail_(proj(x), lengths).squeeze(1))
    return outputs[0], outputs[1]


def _decoder_trunk(decoder: nn.Module, asr, f0_curve, n_curve, style, frame_lengths: Lengths):
    f0 = zero_tail_(decoder.F0_conv(f0_curve.unsqueeze(1)), frame_lengths)
    n = zero_tail_(decoder.N_conv(n_curve.unsqueeze(1)), frame_lengths)
    x, lengths = masked_adain_resblk1d(decoder.encode, torch.cat([asr, f0, n], dim=1), style, frame_lengths)
    asr_res = zero_tail_(decoder.asr_res(asr), frame_lengths)
    residual = True
    for block in decoder.decode:
        if residual:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x, lengths = masked_adain_resblk1d(block, x, style, lengths)
        if block.upsample_type != "none":
            residual = False
    return x, lengths


def _reflect_rows(signal: torch.Tensor, lengths: Lengths, pad: int) -> torch.Tensor:
    """Each row reflect-padded by ``pad`` about its own ends (``torch.stft(center=True)``)."""
    out = signal.new_zeros(signal.shape[0], signal.shape[-1] + 2 * pad)
    for row, length in enumerate(lengths):
        out[row : row + 1, : length + 2 * pad] = F.pad(signal[row : row + 1, None, :length], (pad, pad), "reflect")[
            :, 0
        ]
    return out


def _harmonic_source(generator: nn.Module, f0_curve, f0_lengths: Lengths, noise):
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
    samples = [length * sine_gen.upsample_scale for length in f0_lengths]
    stft = generator.stft
    padded = _reflect_rows(har_source, samples, stft.filter_length // 2)
    spectrum = torch.stft(
        padded,
        stft.filter_length,
        stft.hop_length,
        stft.win_length,
        window=stft.window.to(device=padded.device, dtype=padded.dtype),
        center=False,
        return_complex=True,
    )
    frame_lengths = [n // stft.hop_length + 1 for n in samples]
    har = torch.cat([torch.abs(spectrum), torch.angle(spectrum)], dim=1)
    return zero_tail_(har, frame_lengths), frame_lengths


def _istft_rows(stft: nn.Module, magnitude, phase, frame_lengths: Lengths) -> torch.Tensor:
    """``torch.istft(center=True)`` per row: overlap-add envelope from each row's own frames."""
    n_fft, hop = stft.filter_length, stft.hop_length
    window = stft.window.to(device=magnitude.device, dtype=magnitude.dtype)
    frames = torch.fft.irfft(torch.polar(magnitude, phase), n=n_fft, dim=1) * window[None, :, None]
    zero_tail_(frames, frame_lengths)
    count = frames.shape[-1]
    width = n_fft + hop * (count - 1)
    fold = dict(output_size=(1, width), kernel_size=(1, n_fft), stride=(1, hop))
    ola = F.fold(frames, **fold).reshape(frames.shape[0], width)
    envelopes = {}  # one overlap-add envelope per distinct frame count
    for length in set(frame_lengths):
        weights = zero_tail_((window * window)[None, :, None].expand(1, n_fft, count).clone(), [length])
        envelopes[length] = F.fold(weights, **fold).reshape(width)
    envelope = torch.stack([envelopes[length] for length in frame_lengths])
    audio = torch.where(envelope > 1e-11, ola / envelope.clamp(min=1e-11), torch.zeros_like(ola))
    return audio[:, n_fft // 2 :]


def _generator(generator: nn.Module, x, style, f0_curve, lengths: Lengths, noise) -> torch.Tensor:
    """The iSTFTNet generator on ``x`` at 2F frames; returns audio ``[B, 600 Fmax]``."""
    har, har_frames = _harmonic_source(generator, f0_curve, lengths, noise)
    for i in range(generator.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        last = i == generator.num_upsamples - 1
        stride = generator.ups[i].stride[0]
        source_lengths = har_frames if last else [length * stride for length in lengths]
        source = zero_tail_(generator.noise_convs[i](har), source_lengths)
        source = masked_adain_resblock1(generator.noise_res[i], source, style, source_lengths)
        x = generator.ups[i](x)
        lengths = [length * stride for length in lengths]
        if last:
            x = generator.reflection_pad(x)  # left pad: safe per row
            lengths = [length + 1 for length in lengths]
        x = zero_tail_(x, lengths) + source
        xs = None
        for j in range(generator.num_kernels):
            out = masked_adain_resblock1(generator.resblocks[i * generator.num_kernels + j], x, style, lengths)
            xs = out if xs is None else xs + out
        x = xs / generator.num_kernels
    x = generator.conv_post(F.leaky_relu(x))
    half = generator.post_n_fft // 2 + 1
    magnitude = zero_tail_(torch.exp(x[:, :half, :]), lengths)
    phase = torch.sin(x[:, half:, :])
    return _istft_rows(generator.stft, magnitude, phase, lengths)


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
    frame_lengths = pred_dur.sum(dim=1).tolist()  # the one host read: every later shape follows
    frames = max(frame_lengths)
    aln = alignment(pred_dur, frames).to(dtype)
    style = ref_s[:, 128:]
    en = d.transpose(-1, -2) @ aln
    f0_curve, n_curve = _f0n(kmodel.predictor, en, style, frame_lengths)
    asr = t_en @ aln
    x, lengths = _decoder_trunk(kmodel.decoder, asr, f0_curve, n_curve, ref_s[:, :128], frame_lengths)
    samples = [SAMPLES_PER_FRAME * length for length in frame_lengths]
    width = frames * SAMPLES_PER_FRAME
    if noise:
        sine_noise = draw_sine_noise(items, samples, width, device, dtype)
    else:
        sine_noise = torch.zeros(len(items), width, HARMONICS, device=device, dtype=dtype)
    audio = _generator(kmodel.decoder.generator, x, ref_s[:, :128], f0_curve, lengths, sine_noise)
    outputs = [
        BatchOutput(
            audio=audio[row, : samples[row]].float(),
            pred_dur=pred_dur[row, : len(items[row].input_ids)].clone(),
            frames=frame_lengths[row],
        )
        for row in range(len(items))
    ]
    return outputs, Intermediates(pred_dur, torch.tensor(frame_lengths), f0_curve, n_curve)


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
