"""Engines by name, from settings. The embedded default is only what ``auto`` falls back to.

``auto`` picks the production engine (primary ``parakeet``, secondary ``qwen``) when its library
is installed and its model is on this machine (a local path, or already in the Hugging Face
cache); otherwise the embedded Whisper pair (base primary, tiny.en secondary). The choice and
the reason are reported, never silent.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from judges.base import ASRJudge
from pipeline.choices import ASR_ENGINE_NAMES
from pipeline.settings import Settings

ASR_ENGINES = ASR_ENGINE_NAMES  # auto resolves to one of these


@dataclass(frozen=True, slots=True)
class EngineChoice:
    name: str
    reason: str


def _model_on_machine(model: str, filename: str | None = None) -> bool:
    if Path(model).exists():
        return True
    try:
        from huggingface_hub import scan_cache_dir

        return any(repo.repo_id == model for repo in scan_cache_dir().repos)
    except Exception:  # no cache dir yet
        return False


def resolve_engine(requested: str, role: str, settings: Settings) -> EngineChoice:
    if requested != "auto":
        if requested not in ASR_ENGINES:
            raise ValueError(f"unknown ASR engine {requested!r}; choose from {', '.join(ASR_ENGINES)} or auto")
        return EngineChoice(requested, "configured")
    production, package, model, fallback = (
        ("parakeet", "nemo", settings.parakeet_model, "whisper")
        if role == "primary"
        else ("qwen", "qwen_asr", settings.qwen_model, "whisper-tiny")
    )
    if importlib.util.find_spec(package) is None:
        return EngineChoice(fallback, f"{production}: python package {package!r} not installed (extra `asr`)")
    if not _model_on_machine(model):
        return EngineChoice(fallback, f"{production}: model {model} is not on this machine")
    return EngineChoice(production, f"{package} installed and {model} available")


def build_asr(name: str, settings: Settings) -> ASRJudge:
    """An ASR judge by engine name (not yet loaded)."""
    if name in ("whisper", "whisper-tiny"):
        from judges.whisper import WhisperJudge
        from pipeline.assets import AssetPaths, ensure_assets, whisper_tiny_en_dir

        if name == "whisper-tiny":
            return WhisperJudge(
                whisper_tiny_en_dir(),
                name=name,
                label="whisper-tiny.en",
                device=settings.asr_device,
                threads=settings.asr_threads,
                check_repeats=settings.check_repeats,
                repeat_places=settings.repeat_places,
            )
        model_dir = settings.whisper_model or AssetPaths(settings.cache_dir).whisper_base
        if settings.whisper_model is None:
            ensure_assets(settings.cache_dir)
        label = "whisper-base" if settings.whisper_model is None else Path(model_dir).name
        return WhisperJudge(
            model_dir,
            name=name,
            label=label,
            device=settings.asr_device,
            threads=settings.asr_threads,
            check_repeats=settings.check_repeats,
            repeat_places=settings.repeat_places,
        )
    if name == "parakeet":
        from judges.parakeet import ParakeetJudge

        return ParakeetJudge(
            model=settings.parakeet_model, device=settings.asr_device, decoder=settings.parakeet_decoder
        )
    if name == "qwen":
        from judges.qwen import QwenASRJudge

        return QwenASRJudge(model=settings.qwen_model, aligner=settings.qwen_aligner, device=settings.asr_device)
    raise ValueError(f"unknown ASR engine {name!r}; choose from {', '.join(ASR_ENGINES)}")
