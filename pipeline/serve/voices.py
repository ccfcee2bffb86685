"""OpenAI's voice names (``alloy``, ``echo``, ``fable``, ``nova``, ``onyx``, ``shimmer``, ``ash``,
``coral``, ``sage``, ...) as Kokoro voices, so OpenAI clients work unchanged.

The mapping is data: ``openai_voices.json`` next to this module, or the JSON file named by
``OPENAI_VOICES_FILE`` (``{"alloy": "af_alloy", "nova": "af_bella(2)+af_sky(1)", ...}``; any
voice spec the voice store accepts). A name that is not in the mapping passes through unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_MAPPING_FILE = Path(__file__).with_name("openai_voices.json")


def load_openai_voices(path: Path | None = None) -> dict[str, str]:
    """The mapping from ``path`` (default: the bundled file); a clear error for a bad file."""
    source = path or DEFAULT_MAPPING_FILE
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"OPENAI_VOICES_FILE {source}: cannot read a JSON object: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"OPENAI_VOICES_FILE {source}: expected a JSON object of name -> voice spec strings")
    return {name.lower(): spec for name, spec in data.items()}


def kokoro_voice(spec: str, mapping: dict[str, str]) -> str:
    """``spec`` with an OpenAI voice name replaced by its Kokoro voice."""
    return mapping.get(spec.strip().lower(), spec)
