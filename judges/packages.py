"""What the judges need to know about their Python packages, found without importing them: the
installed version (for ``JudgeInfo.version``), where a package lives (for weights it ships), and
a stand-in for torchaudio while importing a package that imports it at module top but, as used
here, never calls it.

torchaudio is not installed on purpose (pip would pull a build for another torch than this
project's 2.13). ``distillmos.sqa`` and ``scoreq/scoreq.py`` import it at the top, only for their
file readers, which the judges replace with ``judges.audio``. So, only when torchaudio is not
importable, ``torchaudio_placeholder`` puts a placeholder module under ``sys.modules["torchaudio"]``
for the duration of that one import and removes it right after; any use of it raises ImportError::

    with torchaudio_placeholder("distillmos"):
        from distillmos.sqa import ConvTransformerSQAModel
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path


def package_version(distribution: str) -> str:
    """``"<distribution> <version>"``, or ``"<distribution> (not installed)"``, for judge versions."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return f"{distribution} (not installed)"


def package_dir(module: str) -> Path | None:
    """Where package ``module`` is installed (namespace packages too), without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


class _TorchaudioPlaceholder(types.ModuleType):
    def __init__(self, asked_by: str) -> None:
        super().__init__("torchaudio")
        self._asked_by = asked_by

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            # Probes such as inspect's hasattr(module, "__file__") over sys.modules (torch does
            # that while importing) must see a plain missing attribute.
            raise AttributeError(attr)
        raise ImportError(f"torchaudio is not installed (torchaudio.{attr} was asked for by {self._asked_by})")


@contextlib.contextmanager
def torchaudio_placeholder(asked_by: str) -> Iterator[None]:
    """While the block runs, ``import torchaudio`` succeeds with a placeholder when torchaudio is
    not installed (a real torchaudio, installed or already imported, is left alone)."""
    placeholder = None
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        placeholder = _TorchaudioPlaceholder(asked_by)
        sys.modules["torchaudio"] = placeholder
    try:
        yield
    finally:
        if placeholder is not None and sys.modules.get("torchaudio") is placeholder:
            del sys.modules["torchaudio"]
