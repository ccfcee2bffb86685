"""The TTS engine: G2P front end + voice store + one Kokoro backend, loaded once.

``pipeline generate`` (through the synthesize stage) and ``pipeline serve`` use this same
object. Example::

    engine = build_engine(get_settings()); engine.setup()
    result = engine.synthesize_text("Hello there.", voice="af_bella(2)+af_sky(1)")
    result.audio  # float32, 24 kHz mono
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.assets import EMBEDDED_TORCH_MODEL, AssetPaths, ensure_assets
from pipeline.files import sha256_file
from pipeline.settings import Settings
from pipeline.tts.backend import SAMPLE_RATE, BackendInfo, KokoroBackend, SynthesisRequest
from pipeline.tts.g2p import G2P, KOKORO_MAX_PHONEMES, Phonemized, PhonemizedWord
from pipeline.tts.voice_cache import DEFAULT_MAX_BYTES, VoiceCache
from pipeline.tts.voices import ResolvedVoice, VoiceStore, canonical_recipe


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    audio: np.ndarray = field(compare=False, repr=False)
    phonemes: str
    voice: str  # canonical recipe
    speed: float
    seed: int | None
    elapsed_s: float
    # Frames per token (incl. the two boundary tokens), when the backend exposes them.
    durations: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def derive_seed(base_seed: int, item_id: str) -> int:
    """A per-item seed that does not depend on batch order or which worker runs the item."""
    return int.from_bytes(hashlib.sha256(f"{base_seed}:{item_id}".encode()).digest()[:4], "big")


def torch_model(settings: Settings, assets: AssetPaths | None = None) -> str:
    """The torch backend's ``model``: ``embedded`` resolves to the checkpoint rebuilt from the
    int8 ONNX (built here on first use when ``pipeline assets`` has not built it yet); a local
    .pth path or a hub id passes through unchanged."""
    if settings.kokoro_torch_model != EMBEDDED_TORCH_MODEL:
        return settings.kokoro_torch_model
    paths = assets or ensure_assets(settings.cache_dir)
    from pipeline.tts.onnx_to_torch import assemble_torch_checkpoint

    return str(assemble_torch_checkpoint(paths))


def make_backend(settings: Settings, assets: AssetPaths | None = None) -> KokoroBackend:
    """Build (not load) the configured backend."""
    if settings.tts_backend == "torch":
        from pipeline.tts.torch_backend import KokoroTorchBackend

        return KokoroTorchBackend(
            model=torch_model(settings, assets),
            device=settings.kokoro_device,
            threads=settings.threads_per_worker,
            gpu_memory_fraction=settings.kokoro_gpu_memory_fraction,
        )
    from pipeline.tts.onnx_backend import KokoroOnnxBackend

    model_path = settings.kokoro_onnx_path or (assets or ensure_assets(settings.cache_dir)).onnx_model
    return KokoroOnnxBackend(model_path, device=settings.kokoro_device, threads=settings.threads_per_worker)


def split_phoneme_words(phonemized: Phonemized, limit: int = KOKORO_MAX_PHONEMES) -> list[tuple[PhonemizedWord, ...]]:
    """The words of ``phonemized`` grouped at word boundaries into pieces Kokoro accepts (never
    truncated): each group's :func:`join_phonemes` has at most ``limit`` characters."""
    groups: list[tuple[PhonemizedWord, ...]] = []
    current: list[PhonemizedWord] = []
    for word in phonemized.words:
        token = word.phonemes + (" " if word.whitespace else "")
        if len(token.strip()) > limit:
            raise ValueError(f"a single word has {len(token)} phonemes (> {limit}): {word.text[:40]!r}")
        if current and len(join_phonemes([*current, word])) > limit:
            groups.append(tuple(current))
            current = []
        current.append(word)
    if join_phonemes(current):
        groups.append(tuple(current))
    return groups


def join_phonemes(words: Sequence[PhonemizedWord]) -> str:
    """The phoneme string Kokoro receives for ``words``."""
    return "".join(w.phonemes + (" " if w.whitespace else "") for w in words).strip()


def split_phonemes(phonemized: Phonemized, limit: int = KOKORO_MAX_PHONEMES) -> list[str]:
    """Cut a long phoneme string at word boundaries into pieces Kokoro accepts (never truncate)."""
    return [join_phonemes(group) for group in split_phoneme_words(phonemized, limit)]


class TTSEngine:
    """Text or phonemes + voice spec -> audio. Stateless per call; safe to share across requests
    from one thread at a time (the service serialises calls per engine)."""

    def __init__(
        self,
        backend: KokoroBackend,
        voices: VoiceStore,
        g2p: G2P | None = None,
        voice_cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.backend = backend
        self.voices = voices
        self.g2p = g2p or G2P()
        self.voice_cache = VoiceCache(voice_cache_bytes)

    def setup(self, with_g2p: bool = True) -> None:
        if with_g2p:
            self.g2p.setup()
        self.backend.setup()

    def teardown(self) -> None:
        self.backend.teardown()

    @property
    def info(self) -> BackendInfo:
        return self.backend.info

    def check_voice(self, spec: str) -> str:
        """The canonical recipe of ``spec``, or :class:`VoiceError`; loads and caches nothing, so
        it is cheap, safe from any thread, and never waits for a synthesis."""
        return canonical_recipe(self.voices.components(spec))

    def resolve_voice(self, spec: str) -> ResolvedVoice:
        """``spec`` with its style pack. Packs are cached by canonical recipe in a bounded LRU
        (built-in packs pinned); a spec that does not resolve leaves nothing behind."""
        components = self.voices.components(spec)
        canonical = canonical_recipe(components)
        pack = self.voice_cache.get(canonical)
        if pack is None:
            pack = self.voice_cache.put(canonical, self.voices.mix(components), pinned=len(components) == 1)
        return ResolvedVoice(spec=spec, canonical=canonical, components=components, pack=pack)

    def synthesize_phonemes(
        self, phonemes: str, voice: str | ResolvedVoice, speed: float = 1.0, seed: int | None = None
    ) -> SynthesisResult:
        resolved = voice if isinstance(voice, ResolvedVoice) else self.resolve_voice(voice)
        started = time.perf_counter()
        audio, durations = self.backend.synthesize_with_durations(phonemes, resolved.pack, speed, seed)
        elapsed = time.perf_counter() - started
        return SynthesisResult(audio, phonemes, resolved.canonical, speed, seed, elapsed, durations)

    def synthesize_phonemes_batch(
        self, requests: Sequence[tuple[str, str | ResolvedVoice, float, int | None]]
    ) -> list[SynthesisResult]:
        """``(phonemes, voice, speed, seed)`` per item through the backend's batched call (one
        padded forward pass on the torch backend, one at a time otherwise).  ``elapsed_s`` of
        each result is its share of the call's wall time, by audio length."""
        resolved = [v if isinstance(v, ResolvedVoice) else self.resolve_voice(v) for _, v, _, _ in requests]
        batch = [
            SynthesisRequest(phonemes, voice.pack, speed, seed)
            for (phonemes, _, speed, seed), voice in zip(requests, resolved, strict=True)
        ]
        started = time.perf_counter()
        outputs = self.backend.synthesize_batch(batch)
        elapsed = time.perf_counter() - started
        total = sum(audio.size for audio, _ in outputs) or 1
        return [
            SynthesisResult(audio, r.phonemes, v.canonical, r.speed, r.seed, elapsed * audio.size / total, durations)
            for (audio, durations), r, v in zip(outputs, batch, resolved, strict=True)
        ]

    def iter_text(
        self, text: str, voice: str | ResolvedVoice, speed: float = 1.0, seed: int | None = None
    ) -> Iterator[SynthesisResult]:
        """Phonemize ``text`` and yield audio piece by piece (pieces cut at word boundaries)."""
        resolved = voice if isinstance(voice, ResolvedVoice) else self.resolve_voice(voice)
        for phonemes in split_phonemes(self.g2p.phonemize(text)):
            yield self.synthesize_phonemes(phonemes, resolved, speed, seed)

    def synthesize_text(
        self, text: str, voice: str | ResolvedVoice, speed: float = 1.0, seed: int | None = None
    ) -> SynthesisResult:
        parts = list(self.iter_text(text, voice, speed, seed))
        if not parts:
            raise ValueError("nothing to say: the text has no speakable words")
        audio = np.concatenate([p.audio for p in parts])
        return SynthesisResult(
            audio,
            " ".join(p.phonemes for p in parts),
            parts[0].voice,
            speed,
            seed,
            sum(p.elapsed_s for p in parts),
        )


def build_voice_store(settings: Settings, assets: AssetPaths | None = None) -> VoiceStore:
    assets = assets or ensure_assets(settings.cache_dir)
    return VoiceStore(assets.voices_dir, settings.blends_path)


def build_engine(settings: Settings) -> TTSEngine:
    """The configured engine, not yet loaded: call ``setup()``."""
    assets = ensure_assets(settings.cache_dir)
    return TTSEngine(make_backend(settings, assets), build_voice_store(settings, assets), G2P(settings.lang_code))


def engine_fingerprint(settings: Settings) -> str:
    """Identify the configured model by content without loading it; part of every chunk id,
    so changing the model (or its weights) regenerates the audio instead of skipping it."""
    if settings.tts_backend == "onnx":
        from pipeline.tts.onnx_backend import onnx_model_version

        return onnx_model_version(settings.kokoro_onnx_path or AssetPaths(settings.cache_dir).onnx_model)
    if settings.kokoro_torch_model == EMBEDDED_TORCH_MODEL:
        from pipeline.tts.onnx_to_torch import read_sidecar

        checkpoint = Path(torch_model(settings))
        info = read_sidecar(checkpoint) or {}
        sha = info.get("sha256") or sha256_file(checkpoint)  # the sidecar records the file's sha256
        return f"kokoro-torch+{sha[:12]}"
    candidate = Path(settings.kokoro_torch_model)
    if candidate.is_file():
        return f"kokoro-torch+{sha256_file(candidate)[:12]}"
    return f"kokoro-torch+{settings.kokoro_torch_model}"
