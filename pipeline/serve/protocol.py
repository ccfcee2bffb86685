"""Request bodies of ``pipeline serve`` and the error answered as JSON (HTTP) or an error frame
(WebSocket).

Every route takes the audio format as ``response_format`` (OpenAI) or ``format`` (the seed's
clients), ``lang_code`` for the G2P language, ``timestamps`` for word times; ``stream`` makes
``/v1/audio/speech`` stream (OpenAI / Kokoro-FastAPI semantics).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AudioFormatName = Literal["wav", "pcm", "flac", "mp3", "opus", "aac"]
RETRY_AFTER_S = 1


class ServiceError(Exception):
    """An error answered as JSON ``{"error": {...}}`` (HTTP) or an error frame (WebSocket)."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": "invalid_request_error", "code": self.code}}


def busy_error() -> ServiceError:
    return ServiceError(
        503, "server busy: too many jobs running and queued, retry later", "busy", {"Retry-After": str(RETRY_AFTER_S)}
    )


class _Speech(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    model: str = "kokoro"
    input: str = ""
    voice: str = "af_heart"
    response_format: AudioFormatName = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    lang_code: str | None = Field(None, max_length=8, description="G2P language (default: the server's)")
    timestamps: bool = False

    @model_validator(mode="before")
    @classmethod
    def _format_alias(cls, data: Any) -> Any:
        """``format`` is ``response_format`` (both given: they must agree)."""
        if isinstance(data, dict) and "format" in data:
            data = dict(data)
            fmt = data.pop("format")
            if "response_format" in data and data["response_format"] != fmt:
                raise ValueError(f"format {fmt!r} and response_format {data['response_format']!r} disagree")
            data["response_format"] = fmt
        return data


class SpeechRequest(_Speech):
    input: str
    stream: bool = False
    stream_format: Literal["audio"] = "audio"


class StreamRequest(_Speech):
    input: str
    response_format: AudioFormatName = "pcm"


class WsSegment(_Speech):
    continue_: bool = Field(True, alias="continue")
    segment_id: str | None = None
    response_format: AudioFormatName = "pcm"


class PhonemizeRequest(BaseModel):
    input: str = Field(..., description="Text to phonemize")
    lang_code: str | None = Field(None, max_length=8)
