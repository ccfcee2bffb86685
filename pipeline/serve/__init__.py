"""The parts of ``pipeline serve`` (the app itself is assembled in :mod:`pipeline.service`):

* :mod:`.encoding`: PCM16 -> wav/pcm/flac/mp3/opus/aac, in-process (PyAV), chunk by chunk;
* :mod:`.voices`: OpenAI voice names (alloy, nova, ...) -> Kokoro voices, from an editable file;
* :mod:`.segments`: the text cut into segments, and the silence trimmed at their joins;
* :mod:`.frontend`: G2P per language and voice packs, in the server process;
* :mod:`.pool`: engine worker processes, first segments first, per-request synthesis intervals;
* :mod:`.synthesis`: one request's segments through the front end and the pool, in order;
* :mod:`.timestamps`: word times from Kokoro's predicted durations;
* :mod:`.responses`: segments -> encoded chunks, NDJSON lines or WebSocket frames; job slots;
* :mod:`.protocol`: request bodies and the error type answered as JSON.
"""
