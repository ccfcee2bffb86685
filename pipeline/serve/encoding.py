"""Encode PCM16 24 kHz mono audio in-process, chunk by chunk, with PyAV (FFmpeg's libraries in
the ``av`` wheel: no ffmpeg binary): ``wav``, ``pcm`` (raw s16le), ``flac``, ``mp3``, ``opus``
(Ogg, 48 kHz) and ``aac`` (ADTS).

A streamed wav carries 0xFFFFFFFF as its sizes (unknown while streaming; every reader of
streamed wav accepts it); a whole file (``streaming=False``) gets exact sizes. Example::

    encoder = AudioEncoder("opus")
    body = encoder.encode(pcm16_chunk) + encoder.encode(next_chunk) + encoder.finish()
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from pipeline.tts.backend import SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class AudioFormat:
    name: str
    media_type: str
    container: str | None  # FFmpeg muxer; None: raw PCM, no encoder
    codec: str | None
    rate: int  # the encoder's sample rate (Opus runs at 48 kHz)
    options: tuple[tuple[str, str], ...] = ()


FORMATS: dict[str, AudioFormat] = {
    "pcm": AudioFormat("pcm", "audio/pcm", None, None, SAMPLE_RATE),
    "wav": AudioFormat("wav", "audio/wav", "wav", "pcm_s16le", SAMPLE_RATE),
    "flac": AudioFormat("flac", "audio/flac", "flac", "flac", SAMPLE_RATE),
    "mp3": AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", SAMPLE_RATE),
    # One Ogg page per 20 ms of audio, so pages leave the muxer while the audio streams.
    "opus": AudioFormat("opus", "audio/ogg", "ogg", "libopus", 48000, (("page_duration", "20000"),)),
    "aac": AudioFormat("aac", "audio/aac", "adts", "aac", SAMPLE_RATE),
}
FORMAT_NAMES = tuple(FORMATS)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> little-endian int16 samples."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")


class _Sink:
    """A write-only, non-seekable file for the muxer: what it wrote is taken with ``drain()``."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += bytes(data)
        return len(data)

    def drain(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class AudioEncoder:
    """PCM16 chunks in, encoded bytes out as soon as the encoder and muxer release them."""

    def __init__(self, fmt: str, streaming: bool = True) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}; use one of {', '.join(FORMAT_NAMES)}")
        self.format = FORMATS[fmt]
        self.streaming = streaming
        self._whole: io.BytesIO | None = None
        self._container = None
        if self.format.container is None:
            return
        import av

        if streaming:
            self._sink: _Sink | io.BytesIO = _Sink()
        else:  # seekable: the muxer writes exact sizes at the end
            self._sink = self._whole = io.BytesIO()
        self._container = av.open(self._sink, mode="w", format=self.format.container, options=dict(self.format.options))
        self._stream = self._container.add_stream(self.format.codec, rate=self.format.rate, layout="mono")
        sample_format = self._stream.codec_context.format.name
        self._resampler = av.AudioResampler(format=sample_format, layout="mono", rate=self.format.rate)
        self._pts = 0

    @property
    def media_type(self) -> str:
        return self.format.media_type

    def _take(self) -> bytes:
        if isinstance(self._sink, _Sink):
            return self._sink.drain()
        return b""

    def _mux(self, frames) -> None:
        for frame in frames:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def encode(self, pcm: np.ndarray | bytes) -> bytes:
        """Encode int16 samples (array or raw s16le bytes); return the bytes ready so far."""
        samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray) else np.asarray(pcm, "<i2")
        if self._container is None:
            return samples.tobytes()
        if samples.size == 0:
            return b""
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += samples.size
        self._mux(self._resampler.resample(frame))
        return self._take()

    def finish(self) -> bytes:
        """Flush the encoder and close the container; the last bytes (the whole file when not streaming)."""
        if self._container is None:
            return b""
        self._mux(self._resampler.resample(None))
        self._mux([None])
        self._container.close()
        self._container = None
        if self._whole is not None:
            return self._whole.getvalue()
        return self._take()


def encode_whole(audio: np.ndarray, fmt: str) -> bytes:
    """float32 audio -> one complete file in ``fmt``."""
    encoder = AudioEncoder(fmt, streaming=False)
    head = encoder.encode(to_pcm16(audio))
    return head + encoder.finish()
