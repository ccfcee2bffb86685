"""The restructuring guard: a fixed generate + validate run (first chapter-1 chunks of Alice, both
engines, every MOS judge, through the CLI) gives the same wavs (sha256) and the same
``audio_quality``/``audio_words`` rows, timings aside, as a stored snapshot
(``tests/data/behaviour_golden*.json``, one per kind of machine seen: Whisper's last digits
differ between machines); on a machine none was taken on, the same decisions as one of them
(everything but the recognizers' texts, confidences and word times: ``helpers.behaviour``), or
failing that the same judgments (a CPU whose int8 kernels give other wav bytes: every verdict,
rule, keep, tier and reason equal, the figures measured from the audio left out), and the run's
snapshot is written beside the test's temporary files for adding
(``cd tests && python -m helpers.behaviour URL``). A deliberate behaviour change takes a new
snapshot and deletes the others in the same commit (other machines add theirs back)."""

from __future__ import annotations

import math
import warnings

from helpers.behaviour import decisions, judgments, load_goldens, run_and_snapshot, write_snapshot


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
    goldens = load_goldens()
    assert goldens, "no tests/data/behaviour_golden*.json"
    if any(not _differences(golden, actual) for golden in goldens.values()):
        return
    written = tmp_path / "behaviour_snapshot.json"
    write_snapshot(actual, written)
    for level, view, differ in (
        (decisions, "decisions", "the recognizers' texts, confidences and word times differ"),
        (judgments, "judgments", "so do the wav bytes and the figures measured from the audio"),
    ):
        by_name = {name: _differences(level(golden), level(actual)) for name, golden in goldens.items()}
        nearest = min(by_name, key=lambda name: len(by_name[name]))
        if not by_name[nearest]:
            warnings.warn(
                f"no stored snapshot was taken on this machine: the {view} equal {nearest}; {differ} "
                f"(this run: {written})",
                stacklevel=1,
            )
            return
    differences = by_name[nearest]
    assert not differences, f"judgments differ from {nearest} (this run: {written}):\n" + "\n".join(differences[:40])
