"""Calibration tables on disk: one JSON file per ASR engine and model in ``data/calibration/``
(written by ``benchmarks/fit_calibration.py``), looked up by the engine and model names a
transcript carries. An engine with no table gets no calibrated confidence: its clips are then
tiered on WER alone and the cascade escalates on WER and insertions only (a warning says so).

Example::

    cal = calibration_for("whisper", "whisper-base-ct2-int8")
    cal(0.62) if cal else None
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path

from verdicts import Calibration

log = logging.getLogger(__name__)

CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "data" / "calibration"


def file_name(engine: str, model: str) -> str:
    """``<engine>--<model>.json`` with anything but letters, digits, ``.``, ``_`` and ``-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{engine}--{model}") + ".json"


@functools.lru_cache(maxsize=8)
def load_tables(directory: Path = CALIBRATION_DIR) -> dict[tuple[str, str], Calibration]:
    tables: dict[tuple[str, str], Calibration] = {}
    for path in sorted(Path(directory).glob("*.json")):
        try:
            cal = Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            log.warning("ignoring calibration table %s: %s", path, exc)
            continue
        tables[(cal.engine, cal.model)] = cal
    return tables


@functools.lru_cache(maxsize=32)
def calibration_for(engine: str, model: str, directory: Path = CALIBRATION_DIR) -> Calibration | None:
    cal = load_tables(directory).get((engine, model))
    if cal is None:
        log.warning(
            "no confidence calibration for %s (%s) in %s: tiers use WER only; fit one with "
            "benchmarks/fit_calibration.py",
            engine,
            model,
            directory,
        )
    return cal
