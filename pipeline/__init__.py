"""Book -> validated Kokoro TTS dataset: stages, runners, TTS engine and service."""

__version__ = "0.1.0"
