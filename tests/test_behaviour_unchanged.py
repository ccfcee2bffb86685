"""The restructuring guard: a fixed generate + validate run (first chapter-1 chunks of Alice, both
engines, every MOS judge, through the CLI) gives the same wavs (sha256) and the same
``audio_quality``/``audio_words`` rows, timings aside, as the snapshot taken before the code was
reorganised (``tests/data/behaviour_golden.json``). A deliberate behaviour change regenerates
the snapshot (``cd tests && python -m helpers.behaviour URL``) in the same commit."""

from __future__ import annotations

import math

from helpers.behaviour import load_golden, run_and_snapshot


def _differences(expected, actual, where="") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected.keys() - actual.keys()]
        out += [f"{where}.{k}: unexpected" for k in actual.keys() - expected.keys()]
        for key in expected.keys() & actual.keys():
            out += _differences(expected[key], actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items expected, {len(actual)} found"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in _differences(e, a, f"{where}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return (
            [] if math.isclose(expected, actual, rel_tol=1e-3, abs_tol=1e-3) else [f"{where}: {expected} != {actual}"]
        )
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def test_generate_and_validate_outputs_match_the_snapshot(tmp_path, database_url):
    actual = run_and_snapshot(tmp_path / "work", database_url)
    differences = _differences(load_golden(), actual)
    assert not differences, "\n".join(differences[:40])
