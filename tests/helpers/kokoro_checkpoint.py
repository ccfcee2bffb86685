"""Random-weight Kokoro-82M checkpoints in the real ``kokoro-v1_0.pth`` layout.

hexgrad's checkpoint is ``torch.save`` of a dict keyed by ``KModel``'s top-level modules
(``bert``, ``bert_encoder``, ``predictor``, ``text_encoder``, ``decoder``), each value that
module's state dict with every key prefixed ``module.`` (the model was trained wrapped in
DataParallel).  ``KModel.__init__`` tries a strict load, and on failure strips the first 7
characters of every key and loads with ``strict=False``: that is the path real weights take,
and the path these checkpoints take too.

The model is built by the real ``kokoro.KModel`` with the project's shipped config; weights are
torch's default initialisation under a fixed seed, so the audio is noise, not speech.

Example::

    path = random_kokoro_checkpoint(tmp_path / "kokoro-random.pth", seed=0)
    backend = KokoroTorchBackend(model=str(path)); backend.setup()
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

KMODEL_MODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
REPO_ID = "hexgrad/Kokoro-82M"
# A bias on the duration head's 50 logits: the predicted frames per token are
# sum(sigmoid(logits)), about 25 with random weights (10 s of audio for 16 phonemes, slow on
# CPU); -3.0 makes it about 2-3 frames, which keeps tests fast.
FAST_DURATION_BIAS = -3.0


def build_random_kmodel(seed: int = 0, duration_bias: float | None = FAST_DURATION_BIAS):
    """A ``kokoro.KModel`` (eval mode, CPU) with seeded random weights; loads nothing from disk
    or the hub.  The global torch RNG state is left untouched."""
    import torch
    from kokoro import KModel

    from pipeline.tts.backend import kokoro_config

    with tempfile.TemporaryDirectory(prefix="kokoro-empty-") as tmp:
        empty = Path(tmp) / "empty.pth"
        # KModel downloads from the hub when model is falsy; an empty checkpoint loads nothing.
        torch.save({}, empty)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            kmodel = KModel(repo_id=REPO_ID, config=kokoro_config(), model=str(empty))
    if duration_bias is not None:
        with torch.no_grad():
            kmodel.predictor.duration_proj.linear_layer.bias.fill_(duration_bias)
    return kmodel.eval()


def checkpoint_state(kmodel, prefix: str = "module.") -> dict:
    """The ``kokoro-v1_0.pth`` dict for ``kmodel``: module name -> prefixed state dict."""
    return {
        name: {
            f"{prefix}{key}": tensor.detach().cpu().clone()
            for key, tensor in getattr(kmodel, name).state_dict().items()
        }
        for name in KMODEL_MODULES
    }


def save_kokoro_checkpoint(kmodel, path: Path, prefix: str = "module.") -> Path:
    """Write ``kmodel`` exactly the way ``kokoro-v1_0.pth`` is laid out (atomic rename)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(checkpoint_state(kmodel, prefix), tmp)
    os.replace(tmp, path)
    return path


def random_kokoro_checkpoint(
    path: Path,
    seed: int = 0,
    duration_bias: float | None = FAST_DURATION_BIAS,
    prefix: str = "module.",
) -> Path:
    """Build (once: an existing file is reused) a random-weight checkpoint at ``path``.

    About 330 MB on disk (82M float32 parameters); building takes a few seconds on CPU.
    """
    path = Path(path)
    if path.is_file():
        return path
    return save_kokoro_checkpoint(build_random_kmodel(seed, duration_bias), path, prefix)
