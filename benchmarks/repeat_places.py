"""How many places of a label should a recognizer be forced to hear a repetition at?

    python benchmarks/repeat_places.py DATASET_DIR --report REPORT_JSON
        [--places 3 4 6 8 0] [--min-llr -2.5] [--json OUT]

``DATASET_DIR`` is a built detection set (``benchmarks/detection.py``: wav + ``faults.json``) and
``REPORT_JSON`` that run's ``report.json`` (its clips' outcomes with the product's own places,
``judges.whisper.REPEAT_PLACES``). Each embedded engine (Whisper base, tiny.en) reads every
repetition and clean clip forced, once: the order the product tests places in
(``_ForcedReader.repeat_order``) and the doubled readings at **every** place
(``_ForcedReader.repeats(places=None)``). Each policy "the first k places" (0 = all) is then
judged on the same numbers:

* a repetition clip the run kept is caught when an engine prefers a doubled reading by more
  than ``--min-llr`` at one of the first k places (more places only add findings: a clip the run
  did not keep stays not kept); "at the fault" counts only findings whose doubled words hold the
  repeated word;
* a clean clip the run kept is lost when an engine prefers a doubled reading anywhere among the
  first k places (the keep rules count one engine's forced finding like an ambiguous word).

No keep rule is run here: the figures are what adding places can change, read off the forced
scores; ``benchmarks/detection.py`` with the chosen constant is the check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.settings import Settings

KINDS = ("repetition_word", "repetition_phrase", "clean")
ENGINES = ("whisper", "whisper-tiny")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("--report", type=Path, required=True, help="the detection run's report.json")
    parser.add_argument("--places", type=int, nargs="+", default=[3, 4, 6, 8, 0], help="policies; 0 = every place")
    parser.add_argument("--min-llr", type=float, default=None, help="default: the settings' repeat_min_llr")
    parser.add_argument("--json", type=Path, help="write every clip's forced scores here")
    return parser.parse_args(argv)


def forced_scores(dataset_dir: Path, faults: list[dict], settings: Settings) -> dict[str, dict[str, dict]]:
    """clip -> engine -> {"order": [...], "repeats": [[first, last, llr], ...]}."""
    from judges.audio import load_audio
    from judges.registry import build_asr
    from judges.whisper import WHISPER_SAMPLE_RATE, _ForcedReader

    out: dict[str, dict[str, dict]] = {f["clip"]: {} for f in faults}
    for engine in ENGINES:
        judge = build_asr(engine, settings)
        judge.setup()
        started = time.perf_counter()
        for fault in faults:
            wav = dataset_dir / fault["book_id"] / fault["voice"] / f"{fault['clip']}.wav"
            audio = load_audio(wav, WHISPER_SAMPLE_RATE)
            forced = _ForcedReader.of(judge._model, judge._label_tokenizer, audio)
            if forced is None:  # longer than one window: the product does not test it either
                continue
            repeats = forced.repeats(fault["label"], places=None)
            out[fault["clip"]][engine] = {
                "order": forced.repeat_order(fault["label"]),
                "repeats": [[r.first, r.last, r.llr] for r in repeats],
            }
        print(f"{engine}: {len(faults)} clips forced at every place in {time.perf_counter() - started:.0f} s")
        judge.teardown()
    return out


def findings(scores: dict[str, dict], places: int, min_llr: float, fault_word: int | None = None) -> list[list]:
    """The doubled readings an engine prefers by more than ``min_llr`` among the first
    ``places`` places (0: all); with ``fault_word``, only those whose doubled words hold it."""
    out = []
    for per_engine in scores.values():
        tested = set(per_engine["order"][: places or None])
        for first, last, llr in per_engine["repeats"]:
            if last in tested and llr > min_llr and (fault_word is None or first <= fault_word <= last):
                out.append([first, last, llr])
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings()
    min_llr = settings.repeat_min_llr if args.min_llr is None else args.min_llr
    faults = [f for f in json.loads((args.dataset_dir / "faults.json").read_text()) if f["kind"] in KINDS]
    report = {c["spec"]["clip"]: c["outcome"] for c in json.loads(args.report.read_text())["clips"]}
    scores = forced_scores(args.dataset_dir, faults, settings)
    if args.json:
        args.json.write_text(json.dumps(scores, indent=1))
    print(f"min_llr {min_llr}; run: {args.report}")
    header = " | ".join(f"{k} detected (by forced readings alone)" for k in KINDS[:2])
    print(f"| places | {header} | clean not kept |")
    print("|---|---|---|---|")
    for places in args.places:
        cells = []
        for kind in KINDS:
            clips = [f for f in faults if f["kind"] == kind]
            hits = forced_alone = 0
            for fault in clips:
                run = report[fault["clip"]]
                if kind == "clean":
                    hits += run["keep"] is False or bool(findings(scores[fault["clip"]], places, min_llr))
                    continue
                # detected: not kept, the fault word flagged (a forced finding holding it flags it)
                seen = bool(findings(scores[fault["clip"]], places, min_llr, fault["indices"][-1]))
                hits += (run["caught_at_word"] and run["keep"] is False) or seen
                forced_alone += seen
            share = f"{100 * hits / len(clips):.0f} %" if clips else "-"
            cells.append(share if kind == "clean" else f"{share} ({forced_alone}/{len(clips)})")
        print(f"| {places or 'all'} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
