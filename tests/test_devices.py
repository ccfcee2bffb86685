"""pipeline.devices: the one place TTS backends and judges check and resolve torch devices."""

from __future__ import annotations

import pytest

from pipeline.devices import parse_device, resolve_device


def test_parse_device_normalizes_and_rejects() -> None:
    assert [parse_device(d) for d in (" CUDA:1 ", "auto", "cpu", "mps", "cuda")] == [
        "cuda:1",
        "auto",
        "cpu",
        "mps",
        "cuda",
    ]
    for bad in ("gpu0", "cuda:", "cuda:x", ""):
        with pytest.raises(ValueError, match="invalid torch device"):
            parse_device(bad)


def test_resolve_device_on_this_machine() -> None:
    torch = pytest.importorskip("torch")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="invalid torch device"):
        resolve_device("tpu")
