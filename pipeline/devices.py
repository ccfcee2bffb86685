"""Torch device names, checked and resolved in one place for the TTS backends and the judges.

``parse_device`` only checks the spelling (no torch import, so constructors stay cheap);
``resolve_device`` turns ``auto`` into a real device and refuses one this machine lacks::

    parse_device(" CUDA:1 ")   # "cuda:1"
    resolve_device("auto")     # "cuda" with a GPU, else "cpu"
"""

from __future__ import annotations

import re

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def parse_device(device: str) -> str:
    """The device string, lower-cased and checked without importing torch."""
    device = str(device).strip().lower()
    if not _DEVICE_RE.match(device):
        raise ValueError(f"invalid torch device {device!r} (use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps')")
    return device


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; an unavailable device is an error."""
    import torch

    device = parse_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = torch.device(device)
    if kind.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} was asked for but CUDA is not available "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                "use device='auto' or 'cpu', or install a CUDA build of torch"
            )
        if kind.index is not None and kind.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif kind.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {device!r} was asked for but MPS is not available")
    return device
