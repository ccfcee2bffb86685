"""Kokoro-82M on PyTorch through the official ``kokoro`` package (``KModel``).

Weights come from a local ``.pth`` in hexgrad's ``kokoro-v1_0.pth`` layout (a dict keyed by
top-level module name: ``bert``, ``bert_encoder``, ``predictor``, ``text_encoder``,
``decoder``, each holding that module's state dict, usually with a ``module.`` prefix), or
from the Hugging Face hub when ``model`` is a repo id (needs internet on first use).  The
config is the one shipped in ``pipeline/tts/kokoro_config.json``, so nothing else is
fetched.

Example::

    backend = KokoroTorchBackend(model="/models/kokoro-v1_0.pth", device="auto")
    backend.setup()
    audio = backend.synthesize("hˈɛloʊ wˈɜɹld.", pack, speed=1.0, seed=1)
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.devices import parse_device, resolve_device
from pipeline.files import sha256_file
from pipeline.tts.backend import (
    SAMPLE_RATE,
    STYLE_DIM,
    BackendInfo,
    KokoroBackend,
    SynthesisRequest,
    kokoro_config,
    style_for,
)

log = logging.getLogger(__name__)

DEFAULT_REPO_ID = "hexgrad/Kokoro-82M"
# Hub repo id -> checkpoint file name (same table as ``kokoro.KModel.MODEL_NAMES``).
HUB_CHECKPOINTS = {
    "hexgrad/Kokoro-82M": "kokoro-v1_0.pth",
    "hexgrad/Kokoro-82M-v1.1-zh": "kokoro-v1_1-zh.pth",
}
MAX_PHONEMES = 510  # Kokoro's context is 512 tokens, two of which are the 0 boundary tokens
SAMPLES_PER_FRAME = 600  # one predicted duration frame = 25 ms at 24 kHz
KMODEL_MODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
MODEL_ENV_VAR = "PIPELINE_KOKORO_TORCH_MODEL"


def _hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as set now (huggingface_hub reads it once, at its import, and some
    libraries import it early): offline means the local cache only, failing at once."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _kokoro_version() -> str:
    try:
        return metadata.version("kokoro")
    except metadata.PackageNotFoundError:  # pragma: no cover - kokoro is a hard dependency
        return "unknown"


def _looks_like_path(model: str) -> bool:
    """A hub id is ``owner/name``; anything with a file suffix, a leading ``.``/``/``/``~`` or
    more than one ``/`` is meant as a local path."""
    if model.startswith((".", "/", "~")) or "\\" in model:
        return True
    if model.endswith((".pth", ".pt", ".bin", ".safetensors")):
        return True
    return model.count("/") != 1


def _check_speed(speed: float) -> None:
    if not (isinstance(speed, numbers.Real) and not isinstance(speed, bool) and math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number, got {speed!r}")


def _check_pack(style_pack: np.ndarray) -> np.ndarray:
    pack = np.asarray(style_pack)
    if pack.ndim < 2 or pack.shape[-1] != STYLE_DIM:
        raise ValueError(f"style pack must be shaped (N, 1, {STYLE_DIM}), got {pack.shape}")
    return pack


class KokoroTorchBackend(KokoroBackend):
    """Kokoro-82M ``KModel`` on CPU or GPU; one phoneme string per call.

    ``model``: a local ``.pth`` path, or a hub repo id (``hexgrad/Kokoro-82M``).
    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.  ``threads``: torch intra-op threads
    (set process-wide in ``setup()``).  Nothing is loaded before ``setup()``; the object pickles
    before and after set-up (the loaded model is not pickled: call ``setup()`` again).

    Calls to ``synthesize`` are serialized per backend object: a seeded call resets the RNG
    that the vocoder draws its noise from, so concurrent calls would make each other's audio
    irreproducible.
    """

    def __init__(
        self,
        model: str = DEFAULT_REPO_ID,
        device: str = "auto",
        threads: int | None = None,
        gpu_memory_fraction: float | None = None,
    ):
        if not model or not str(model).strip():
            raise ValueError(f"no Kokoro torch model given; pass a local .pth path (or set {MODEL_ENV_VAR})")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.model = str(model)
        self.device = parse_device(device)
        self.threads = threads
        self.gpu_memory_fraction = gpu_memory_fraction  # cap of this process's GPU share (serve)
        self._model: Any = None  # kokoro.KModel once set up
        self._resolved_device: str | None = None
        self._checkpoint: Path | None = None
        self._checkpoint_hash: str | None = None
        self._lock = threading.Lock()

    # -- pickling: never carry the loaded model or the lock ------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_resolved_device"] = None
        if not self.is_local:  # the hub file is re-resolved (and re-hashed) where it is set up
            state["_checkpoint"] = None
            state["_checkpoint_hash"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- set-up -------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return Path(self.model).expanduser().exists() or _looks_like_path(self.model)

    def _local_checkpoint(self) -> Path:
        path = Path(self.model).expanduser()
        if path.is_dir() and (path / HUB_CHECKPOINTS[DEFAULT_REPO_ID]).is_file():
            path = path / HUB_CHECKPOINTS[DEFAULT_REPO_ID]
        if not path.is_file():
            raise RuntimeError(
                f"Kokoro torch checkpoint {str(path)!r} does not exist (or is not a file); give the "
                f"path of a kokoro-v1_0.pth-style checkpoint via {MODEL_ENV_VAR} / model=..., "
                f"or a hub repo id such as {DEFAULT_REPO_ID!r} when online"
            )
        return path.resolve()

    def _hub_checkpoint(self) -> Path:
        filename = HUB_CHECKPOINTS.get(self.model)
        if filename is None:
            raise RuntimeError(
                f"unknown Kokoro hub repo {self.model!r} (known: {', '.join(HUB_CHECKPOINTS)}); "
                f"for a local checkpoint give an existing .pth path via {MODEL_ENV_VAR}"
            )
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(repo_id=self.model, filename=filename, local_files_only=_hub_offline()))
        except Exception as exc:  # offline, DNS failure, 404, auth, disk ...
            raise RuntimeError(
                f"could not fetch the Kokoro torch weights {self.model}/{filename} from the Hugging Face "
                f"hub ({type(exc).__name__}: {exc}). Without internet, download {filename} elsewhere and "
                f"give its local path: {MODEL_ENV_VAR}=/path/to/{filename} (or "
                f"KokoroTorchBackend(model='/path/to/{filename}')), or use the ONNX backend "
                "(PIPELINE_TTS_BACKEND=onnx), which runs from the embedded assets."
            ) from exc

    def _checkpoint_path(self) -> Path:
        if self._checkpoint is None:
            self._checkpoint = self._local_checkpoint() if self.is_local else self._hub_checkpoint()
        return self._checkpoint

    def _config(self) -> dict:
        if self.is_local or self.model == DEFAULT_REPO_ID:
            return kokoro_config()
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(repo_id=self.model, filename="config.json", local_files_only=_hub_offline())
            return json.loads(Path(path).read_text())
        except Exception as exc:
            raise RuntimeError(f"could not fetch config.json of {self.model} from the hub: {exc}") from exc

    @staticmethod
    def _check_checkpoint_keys(path: Path, kmodel: Any) -> None:
        """``KModel`` falls back to ``load_state_dict(strict=False)`` after stripping a ``module.``
        prefix, so a checkpoint with missing tensors would load silently and leave random weights.
        Check the key sets ourselves (memory-mapped, so this costs little)."""
        import torch

        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) serialization cannot be memory-mapped
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict):
            raise RuntimeError(f"{path}: not a Kokoro checkpoint (top level is {type(checkpoint).__name__})")
        missing_modules = [name for name in KMODEL_MODULES if name not in checkpoint]
        if missing_modules:
            raise RuntimeError(
                f"{path}: not a kokoro-v1_0.pth-style checkpoint; missing modules {missing_modules} "
                f"(found top-level keys {sorted(map(str, checkpoint))[:10]})"
            )
        for name in KMODEL_MODULES:
            have = {k[7:] if k.startswith("module.") else k for k in checkpoint[name]}
            want = set(getattr(kmodel, name).state_dict())
            missing = sorted(want - have)
            if missing:
                raise RuntimeError(
                    f"{path}: module {name!r} lacks {len(missing)} of {len(want)} tensors "
                    f"(e.g. {missing[:3]}); the checkpoint does not match Kokoro-82M v1.0"
                )
            unexpected = sorted(have - want)
            if unexpected:
                log.warning(
                    "%s: module %r has %d unused tensors, e.g. %s",
                    path,
                    name,
                    len(unexpected),
                    unexpected[:3],
                )

    def setup(self) -> None:
        if self._model is not None:
            return
        import torch
        from kokoro import KModel

        device = resolve_device(self.device)
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if self.gpu_memory_fraction and device.startswith("cuda"):
            # Cap this process's share of the GPU so the service can sit beside the ASR models.
            torch.cuda.set_per_process_memory_fraction(self.gpu_memory_fraction, torch.device(device))
        checkpoint = self._checkpoint_path()
        if self._checkpoint_hash is None:
            self._checkpoint_hash = sha256_file(checkpoint)
        repo_id = DEFAULT_REPO_ID if self.is_local else self.model
        try:
            kmodel = KModel(repo_id=repo_id, config=self._config(), model=str(checkpoint))
        except Exception as exc:  # unpickling, shape mismatch, unknown module name ...
            raise RuntimeError(f"could not load Kokoro torch checkpoint {checkpoint}: {exc}") from exc
        self._check_checkpoint_keys(checkpoint, kmodel)
        kmodel = kmodel.to(device).eval()
        for parameter in kmodel.parameters():
            parameter.requires_grad_(False)
        self._model = kmodel
        self._resolved_device = device
        log.info("Kokoro torch model %s loaded on %s (sha256 %s)", checkpoint, device, self._checkpoint_hash[:12])

    def teardown(self) -> None:
        if self._model is None:
            return
        device = self._resolved_device or "cpu"
        self._model = None
        self._resolved_device = None
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    # -- inference ----------------------------------------------------------------------
    def _token_ids(self, phonemes: str) -> list[int]:
        if not isinstance(phonemes, str):
            raise TypeError(f"phonemes must be a str, got {type(phonemes).__name__}")
        if len(phonemes) > MAX_PHONEMES:
            raise ValueError(
                f"{len(phonemes)} phonemes given; Kokoro takes at most {MAX_PHONEMES} per call "
                "(split the chunk; it is never truncated)"
            )
        vocab = self._model.vocab
        ids = [vocab[c] for c in phonemes if c in vocab]
        if not ids:
            raise ValueError(f"no phoneme of {phonemes!r} is in Kokoro's vocabulary; nothing to say")
        return [0, *ids, 0]

    def synthesize_with_durations(
        self, phonemes: str, style_pack: np.ndarray, speed: float = 1.0, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like ``synthesize``, plus the predicted duration of every input token in frames of
        ``SAMPLES_PER_FRAME`` samples (including the two boundary tokens), for timestamps."""
        if self._model is None:
            raise RuntimeError("KokoroTorchBackend.setup() must be called before synthesize()")
        _check_speed(speed)
        pack = _check_pack(style_pack)
        ids = self._token_ids(phonemes)

        import torch

        device = self._resolved_device or "cpu"
        input_ids = torch.tensor([ids], dtype=torch.long, device=device)
        ref_s = torch.from_numpy(style_for(pack, phonemes)).to(device)
        if device.startswith("cuda"):
            index = torch.device(device).index
            rng_devices = [torch.cuda.current_device() if index is None else index]
        else:
            rng_devices = []  # CPU generator only; fork_rng always saves/restores it
        with self._lock, torch.inference_mode():
            if seed is None:
                audio, durations = self._model.forward_with_tokens(input_ids, ref_s, float(speed))
            else:
                with torch.random.fork_rng(devices=rng_devices):
                    torch.default_generator.manual_seed(int(seed))
                    if rng_devices:
                        with torch.cuda.device(rng_devices[0]):
                            torch.cuda.manual_seed(int(seed))
                    audio, durations = self._model.forward_with_tokens(input_ids, ref_s, float(speed))
        audio_np = audio.squeeze().float().cpu().numpy().astype(np.float32, copy=False).reshape(-1)
        durations_np = durations.reshape(-1).cpu().numpy().astype(np.int64)
        return audio_np, durations_np

    def synthesize_batch(self, requests: Sequence[SynthesisRequest]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Several utterances as one padded forward pass (``pipeline.tts.batched``); returns
        ``(audio, durations)`` per request, in order.  A seeded request gets the vocoder noise
        its solo ``synthesize_with_durations`` call would draw, so its audio matches the solo
        audio up to float rounding (see the equivalence tests); group requests of similar
        length (``batched.plan_batches``) to keep padding small."""
        if self._model is None:
            raise RuntimeError("KokoroTorchBackend.setup() must be called before synthesize_batch()")
        if not requests:
            return []
        import torch

        from pipeline.tts.batched import BatchItem, synthesize_batch

        items = []
        for request in requests:
            _check_speed(request.speed)
            pack = _check_pack(request.style_pack)
            items.append(
                BatchItem(
                    input_ids=self._token_ids(request.phonemes),
                    ref_s=torch.from_numpy(style_for(pack, request.phonemes)),
                    speed=float(request.speed),
                    seed=None if request.seed is None else int(request.seed),
                )
            )
        with self._lock:
            outputs = synthesize_batch(self._model, items)
        return [
            (out.audio.cpu().numpy().astype(np.float32, copy=False), out.pred_dur.cpu().numpy().astype(np.int64))
            for out in outputs
        ]

    def synthesize(
        self, phonemes: str, style_pack: np.ndarray, speed: float = 1.0, seed: int | None = None
    ) -> np.ndarray:
        """Float32 mono audio at 24 kHz.  The same phonemes, pack, speed and ``seed`` give
        bit-identical audio on CPU; ``seed=None`` draws fresh vocoder noise."""
        return self.synthesize_with_durations(phonemes, style_pack, speed, seed)[0]

    # -- identity -----------------------------------------------------------------------
    @property
    def info(self) -> BackendInfo:
        """Before ``setup()`` a local checkpoint is hashed on demand; a hub id needs ``setup()``."""
        if self._checkpoint_hash is None:
            if not self.is_local:
                raise RuntimeError(
                    f"KokoroTorchBackend.info for hub model {self.model!r} needs setup() first "
                    "(the checkpoint hash is part of the version)"
                )
            self._checkpoint_hash = sha256_file(self._checkpoint_path())
        model = str(self._checkpoint) if self.is_local and self._checkpoint else self.model
        return BackendInfo(
            name="kokoro-torch",
            model=model,
            device=self._resolved_device or self.device,
            version=f"kokoro-{_kokoro_version()}+{self._checkpoint_hash[:12]}",
        )

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE
