"""Signal metrics on signals whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from judges.audio import AudioError
from pipeline.signal import METRIC_KEYS, signal_metrics, signal_metrics_for_file

SR = 24_000


def sine(freq: float, amplitude: float, seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_exactly_the_eleven_keys():
    metrics = signal_metrics(sine(1000, 0.5), SR)
    assert tuple(metrics) == METRIC_KEYS
    assert len(METRIC_KEYS) == 11
    assert isinstance(metrics["sample_rate"], int)
    assert all(isinstance(v, float) for k, v in metrics.items() if k != "sample_rate")


@pytest.mark.parametrize("sr", [16_000, 24_000, 48_000])
def test_sine_at_minus_6_dbfs(sr):
    m = signal_metrics(sine(1000, 0.5, sr=sr), sr)
    assert m["duration_s"] == pytest.approx(2.0)
    assert m["sample_rate"] == sr
    assert m["peak_amplitude"] == pytest.approx(0.5, abs=1e-4)
    # rms of a sine = A / sqrt(2): 20*log10(0.5/sqrt(2)) = -9.03 dBFS
    assert m["rms_db"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert m["rms_db"] == pytest.approx(-9.03, abs=0.01)
    assert m["clipping_pct"] == 0.0
    assert m["silence_pct"] == 0.0
    assert m["energy_std"] == pytest.approx(0.0, abs=1e-4)  # every 20 ms frame holds 20 whole periods
    assert m["dynamic_range_db"] == pytest.approx(0.0, abs=0.01)
    # two crossings per period: 2000 per second
    assert m["zero_crossing_rate"] == pytest.approx(2000 / sr, rel=0.01)
    assert m["spectral_centroid_hz"] == pytest.approx(1000, rel=0.02)
    assert m["spectral_rolloff_hz"] == pytest.approx(1000, abs=2 * sr / 2048)


def test_clipped_sine():
    clipped = np.clip(sine(203.7, 1.5), -1.0, 1.0)  # not a whole number of samples per period
    m = signal_metrics(clipped, SR)
    assert m["peak_amplitude"] == pytest.approx(1.0)
    # |1.5 sin| >= 0.999 for the phases where |sin| >= 0.666: 1 - 2*asin(0.666)/pi of the time
    expected = 100 * (1 - 2 * math.asin(0.999 / 1.5) / math.pi)
    assert m["clipping_pct"] == pytest.approx(expected, abs=0.5)
    assert signal_metrics(sine(200, 0.9), SR)["clipping_pct"] == 0.0


def test_half_silence():
    audio = np.concatenate([sine(440, 0.5, 1.0), np.zeros(SR, dtype=np.float32)])
    m = signal_metrics(audio, SR)
    assert m["silence_pct"] == pytest.approx(50.0, abs=1.0)
    assert m["duration_s"] == pytest.approx(2.0)
    assert m["rms_db"] == pytest.approx(-9.03 - 3.01, abs=0.02)  # half the power
    # frame rms is 0.354 or 0: std = 0.354 / 2
    assert m["energy_std"] == pytest.approx(0.5 / math.sqrt(2) / 2, rel=0.01)
    assert m["dynamic_range_db"] > 100  # speech-level frames vs digital silence (floored at -120 dB)


def test_quiet_but_not_silent_is_not_silence():
    m = signal_metrics(sine(440, 10 ** (-30 / 20) * math.sqrt(2)), SR)  # rms -30 dBFS
    assert m["rms_db"] == pytest.approx(-30, abs=0.05)
    assert m["silence_pct"] == 0.0
    m = signal_metrics(sine(440, 10 ** (-50 / 20) * math.sqrt(2)), SR)  # rms -50 dBFS
    assert m["silence_pct"] == 100.0


@pytest.mark.parametrize("sr", [16_000, 24_000])
def test_white_noise(sr):
    rng = np.random.default_rng(7)
    noise = rng.uniform(-0.5, 0.5, 4 * sr).astype(np.float32)
    m = signal_metrics(noise, sr)
    assert m["spectral_centroid_hz"] == pytest.approx(sr / 4, rel=0.03)
    assert m["spectral_rolloff_hz"] == pytest.approx(0.85 * sr / 2, rel=0.03)
    assert m["zero_crossing_rate"] == pytest.approx(0.5, abs=0.02)
    assert m["rms_db"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(3)), abs=0.1)  # uniform: A/sqrt(3)


def test_digital_silence_is_finite():
    m = signal_metrics(np.zeros(SR, dtype=np.float32), SR)
    assert m["rms_db"] == -120.0
    assert m["silence_pct"] == 100.0
    assert m["spectral_centroid_hz"] == 0.0 and m["spectral_rolloff_hz"] == 0.0
    assert all(math.isfinite(v) for v in m.values())


def test_shorter_than_a_frame_and_stereo_and_int16():
    m = signal_metrics(np.full(10, 0.1, dtype=np.float32), SR)
    assert m["rms_db"] == pytest.approx(-20.0, abs=1e-4)
    stereo = np.stack([sine(1000, 0.5), sine(1000, 0.5)], axis=1)
    assert signal_metrics(stereo, SR)["rms_db"] == pytest.approx(-9.03, abs=0.01)
    pcm = (sine(1000, 0.5) * 32768).astype(np.int16)
    assert signal_metrics(pcm, SR)["peak_amplitude"] == pytest.approx(0.5, abs=1e-3)


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="empty"):
        signal_metrics(np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="NaN"):
        signal_metrics(np.array([0.1, np.nan], dtype=np.float32), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        signal_metrics(sine(1000, 0.5), 0)


def test_for_file_reads_native_rate_mono(tmp_path):
    path = tmp_path / "stereo48k.wav"
    left = sine(1000, 0.5, 1.0, 48_000)
    sf.write(path, np.stack([left, left], axis=1), 48_000)
    m = signal_metrics_for_file(path)
    assert m["sample_rate"] == 48_000
    assert m["duration_s"] == pytest.approx(1.0)
    assert m["rms_db"] == pytest.approx(-9.03, abs=0.02)  # PCM_16 file: within quantization
    assert m["spectral_centroid_hz"] == pytest.approx(1000, rel=0.02)


def test_for_file_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16_000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really a wav file")
    for path, message in ((empty, "empty"), (corrupt, "cannot decode"), (tmp_path / "missing.wav", "no such file")):
        with pytest.raises(ValueError, match=message) as info:
            signal_metrics_for_file(path)
        assert isinstance(info.value, AudioError)
