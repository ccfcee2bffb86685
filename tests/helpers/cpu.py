"""What the CPU is, for tests whose outcome depends on it (``/proc/cpuinfo``; empty elsewhere)."""

from __future__ import annotations

from pathlib import Path


def cpuinfo(field: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


# Kokoro's int8 ONNX kernels give other wav bytes on a CPU without AVX-512 (AMD EPYC family 25
# model 1, seen at stop 32): the recognizers then hear a few clips otherwise. Tests whose outcome
# rests on one recognizer reading of one clip are expected to fail there (README "Tests").
FLAGS = frozenset(cpuinfo("flags").split())
WITHOUT_AVX512 = bool(FLAGS) and "avx512f" not in FLAGS
