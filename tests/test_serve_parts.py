"""The parts of ``pipeline serve`` that need no server: encoders, segments and joins, the OpenAI
voice mapping, word spans, request bodies. Real audio where audio matters (a tone, decoded back)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.serve.encoding import FORMATS, AudioEncoder, encode_whole, to_pcm16
from pipeline.serve.protocol import SpeechRequest, WsSegment
from pipeline.serve.segments import pause_after, speech_bounds, split_segments, trim_silence
from pipeline.serve.timestamps import shift_words, word_spans
from pipeline.serve.voices import DEFAULT_MAPPING_FILE, kokoro_voice, load_openai_voices
from pipeline.tts.engine import join_phonemes
from pipeline.tts.g2p import PhonemizedWord

RATE = 24000


def tone(seconds: float, lead: float = 0.0, tail: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    voiced = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.concatenate([np.zeros(int(lead * RATE), np.float32), voiced, np.zeros(int(tail * RATE), np.float32)])


def decoded_seconds(data: bytes) -> float:
    import av

    container = av.open(io.BytesIO(data))
    frames = list(container.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
def test_streamed_and_whole_encodings_decode_to_the_audio(fmt: str) -> None:
    audio = tone(1.5)
    encoder = AudioEncoder(fmt)
    pcm = to_pcm16(audio)
    pieces = [encoder.encode(pcm[i : i + 2400]) for i in range(0, len(pcm), 2400)] + [encoder.finish()]
    assert sum(1 for p in pieces[:-1] if p) >= len(pieces) // 2, "bytes leave the encoder while it streams"
    delay = 0.1 if fmt in ("mp3", "aac") else 0.002  # their encoder delay / priming samples
    assert 1.5 - 0.002 <= decoded_seconds(b"".join(pieces)) <= 1.5 + delay
    assert 1.5 - 0.002 <= decoded_seconds(encode_whole(audio, fmt)) <= 1.5 + delay


def test_wav_sizes_whole_exact_streamed_open() -> None:
    whole = encode_whole(tone(0.5), "wav")
    assert int.from_bytes(whole[4:8], "little") == len(whole) - 8
    streamed = AudioEncoder("wav").encode(to_pcm16(tone(0.5)))
    assert streamed[4:8] == b"\xff\xff\xff\xff"
    assert sf.read(io.BytesIO(whole))[0].size == int(0.5 * RATE)


def test_pcm_is_passthrough_and_unknown_format_refused() -> None:
    encoder = AudioEncoder("pcm")
    assert encoder.encode(b"\x01\x00\x02\x00") == b"\x01\x00\x02\x00" and encoder.finish() == b""
    with pytest.raises(ValueError, match="ogg"):
        AudioEncoder("ogg")


def test_split_segments_and_pauses() -> None:
    assert split_segments("How brave they'll all think me at home!", 6, ".,?!;:") == [
        "How brave they'll all think me",
        "at home!",
    ]
    assert split_segments("Hello there, my friend. This is a test. Bye.", 6, ".,") == [
        "Hello there, my friend.",
        "This is a test.",
        "Bye.",
    ]
    assert pause_after("think me") < 0.05 < pause_after("there,") < pause_after("friend.")
    assert pause_after('said "stop."') == pause_after("stop.")


def test_trim_silence_keeps_what_is_asked_and_adds_nothing() -> None:
    audio = tone(1.0, lead=0.3, tail=0.45)
    start, end = speech_bounds(audio)
    assert abs(start / RATE - 0.3) <= 0.01 and abs(end / RATE - 1.3) <= 0.01
    trimmed, cut = trim_silence(audio, 0.05, 0.1)
    assert abs(cut / RATE - 0.25) <= 0.01 and abs(len(trimmed) / RATE - 1.15) <= 0.02
    untouched, cut = trim_silence(audio, 1.0, None)
    assert cut == 0 and len(untouched) == len(audio)
    silent = np.zeros(RATE, np.float32)
    assert trim_silence(silent, 0.05, 0.05)[0].size == RATE and speech_bounds(silent) is None


def test_openai_voice_mapping_is_editable(tmp_path: Path) -> None:
    bundled = load_openai_voices()
    assert {"alloy", "echo", "fable", "nova", "onyx", "shimmer", "ash", "coral", "sage"} <= bundled.keys()
    assert json.loads(DEFAULT_MAPPING_FILE.read_text())["alloy"] == bundled["alloy"]
    mine = tmp_path / "voices.json"
    mine.write_text(json.dumps({"Alloy": "af_bella(2)+af_sky(1)"}))
    mapping = load_openai_voices(mine)
    assert kokoro_voice("alloy", mapping) == "af_bella(2)+af_sky(1)"
    assert kokoro_voice("af_heart", mapping) == "af_heart"
    mine.write_text("[1, 2]")
    with pytest.raises(ValueError, match="OPENAI_VOICES_FILE"):
        load_openai_voices(mine)


def test_word_spans_follow_the_phoneme_string() -> None:
    words = [
        PhonemizedWord("Hello", "həlˈO", ""),
        PhonemizedWord(",", ",", " "),
        PhonemizedWord("world", "wˈɜɹld", ""),
        PhonemizedWord(".", ".", ""),
    ]
    phonemes = join_phonemes(words)
    spans = word_spans(words)
    assert phonemes == "həlˈO, wˈɜɹld."
    assert [phonemes[s[0] : s[1]] if s else None for s in spans] == ["həlˈO", None, "wˈɜɹld", None]
    moved = shift_words([{"word": "a", "start_s": 0.1, "end_s": 0.5}], -0.2, 0.25)
    assert moved == [{"word": "a", "start_s": 0.0, "end_s": 0.25}]


def test_format_and_response_format_are_one_field() -> None:
    assert SpeechRequest.model_validate({"input": "x", "format": "pcm"}).response_format == "pcm"
    assert WsSegment.model_validate({"format": "opus"}).response_format == "opus"
    assert WsSegment.model_validate({"response_format": "mp3"}).response_format == "mp3"
    with pytest.raises(ValueError, match="disagree"):
        SpeechRequest.model_validate({"input": "x", "format": "pcm", "response_format": "wav"})


def test_devices_are_resolved_or_refused_and_workers_fill_the_cores() -> None:
    import os

    import torch

    from pipeline.serve.pool import DeviceUnavailable, check_device, plan_workers
    from pipeline.settings import Settings

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(DeviceUnavailable, match="invalid torch device"):
        check_device(Settings(kokoro_device="tpu"))
    with pytest.raises(DeviceUnavailable, match=f"cuda:{gpus}"):
        check_device(Settings(kokoro_device=f"cuda:{gpus}"))  # one past the last GPU
    if gpus == 0:
        assert check_device(Settings(kokoro_device="auto")) == "cpu"
        cores = len(os.sched_getaffinity(0))
        assert len(plan_workers(Settings(), "cpu")) == cores
        # unset THREADS_PER_WORKER: each one-core worker may borrow an idle core's thread
        assert {p.threads for p in plan_workers(Settings(), "cpu")} == {2 if cores > 1 else 1}
        assert [p.threads for p in plan_workers(Settings(threads_per_worker=1), "cpu")] == [1] * cores
        assert [p.threads for p in plan_workers(Settings(threads_per_worker=2), "cpu")] == [2] * max(1, cores // 2)
        assert len(plan_workers(Settings(engine_workers=3), "cpu")) == 3


def test_an_english_voice_is_phonemized_in_its_own_accent_unless_a_lang_code_is_asked() -> None:
    """As generate does: bf_emma reads British phonemes, af_heart American ones; a request's
    ``lang_code`` wins, and with ``g2p_by_voice`` off the server's default applies."""
    from pipeline.serve.frontend import Frontend
    from pipeline.settings import Settings
    from pipeline.tts.engine import build_voice_store
    from pipeline.tts.voice_cache import VoiceCache

    voices = build_voice_store(Settings())
    frontend = Frontend(voices, VoiceCache(2**20), "a", {"fable": "bm_george"})
    try:
        assert frontend.lang_for("bf_emma", None) == "b" and frontend.lang_for("af_heart", None) == "a"
        assert frontend.lang_for("fable", None) == "b"  # an OpenAI name maps to a British voice
        assert frontend.lang_for("bf_emma", "a") == "a" and frontend.lang_for("ff_siwis", None) is None
        dear = [
            w.phonemes for piece in frontend.pieces("Oh dear.", frontend.lang_for("bf_emma", None)) for w in piece.words
        ]
        assert "dˈɪə" in dear
    finally:
        frontend.close()
    off = Frontend(voices, VoiceCache(2**20), "a", {}, g2p_by_voice=False)
    assert off.lang_for("bf_emma", None) is None
    off.close()
