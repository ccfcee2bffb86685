"""Re-judge stored transcripts with the current verdict and keep rules, no ASR run: how would the
rules of this checkout decide the clips a validate run already transcribed?

    python benchmarks/rejudge.py DATASET_DIR VALIDATIONS_LOG [--json out.json]

DATASET_DIR has ``manifest.jsonl`` (labels; ``word_phonemes`` when generate stored them, else the
project G2P of each label stands for what Kokoro was fed) and, for a detection-benchmark set
(``benchmarks/detection.py``), ``faults.json``. VALIDATIONS_LOG is that run's results log
(``<work>/validations/<dataset>.jsonl``; the last entry of each clip counts): its engines' words
are judged again, with the settings' thresholds (``PIPELINE_*`` variables apply, as in
``pipeline validate``). Logs that store transcripts (word timings, confidences, the engines'
probabilities of the label words) are judged from them, with calibration; older logs hold texts
only, so tiers are then on WER alone.

Per fault kind (``clean`` for clips without a fault): clips, not kept now / in the log (the rules
that wrote it), flagged at the fault word now (a counted verdict on a fault word, or an insertion
next to it), and the reasons. Clean clips that are not kept are listed with their words.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from pipeline.lexicon import fed_phonemes, g2p_lexicon, same_sound_in
from pipeline.settings import get_settings
from verdicts import Hypothesis, judge_words
from verdicts.names import COUNTED_VERDICTS


def load(dataset_dir: Path, log: Path) -> list[dict]:
    manifest = {}
    for line in (dataset_dir / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        manifest[row["file_hash"]] = row
    faults = {}
    if (dataset_dir / "faults.json").is_file():
        faults = {row["wav_path"]: row for row in json.loads((dataset_dir / "faults.json").read_text("utf-8"))}
    clips = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        groups = entry["groups"]
        verdicts = groups.get("verdicts", {})
        record = manifest.get(verdicts.get("file_hash"))
        if record is None or "primary" not in groups:
            continue
        clips[record["file_hash"]] = {
            "record": record,
            "fault": faults.get(record["wav_path"]),
            "primary": groups["primary"].get("primary_text"),
            "secondary": groups.get("secondary", {}).get("secondary_text"),
            "logged_keep": verdicts.get("keep"),
            "transcripts": {t["role"]: t for t in entry.get("transcripts", ())},
        }
    return list(clips.values())


def hypotheses(clip: dict) -> tuple[Hypothesis, Hypothesis | None]:
    """What the engines heard: from the stored transcripts when the log has them, else texts."""
    stored = clip["transcripts"]
    if "primary" in stored:
        from pipeline.stages.verdicts import hypothesis
        from pipeline.store.transcripts import transcript_from_row

        main = hypothesis(transcript_from_row(stored["primary"]))
        other = hypothesis(transcript_from_row(stored["secondary"])) if "secondary" in stored else None
        if main is not None:
            return main, other
    main_text = clip["primary"] if clip["primary"] is not None else clip["secondary"]
    other = Hypothesis("secondary", clip["secondary"]) if clip["primary"] and clip["secondary"] else None
    return Hypothesis("primary", main_text), other


def flagged_at_fault(result, fault: dict) -> bool:
    indices = set(fault["indices"])
    if any(w.index in indices and w.verdict in COUNTED_VERDICTS for w in result.words):
        return True
    lo = min(indices | {fault["insert_position"] or min(indices)})
    hi = max(indices) + 1
    return any(i.verdict == "insertion" and lo <= i.position <= hi for i in result.insertions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--json", type=Path, help="write every clip's decision here")
    args = parser.parse_args(argv)
    lexicon = g2p_lexicon()
    thresholds = get_settings().thresholds  # PIPELINE_* settings apply, as in validate
    rows = []
    for clip in load(args.dataset_dir, args.log):
        record, fault = clip["record"], clip["fault"]
        if not clip["primary"] and not clip["secondary"]:
            continue
        fed = record.get("word_phonemes") or fed_phonemes(record["text"])
        main, other = hypotheses(clip)
        result = judge_words(
            record["text"], main, other, thresholds, lexicon=lexicon, fed_phonemes=fed, same_sound=same_sound_in
        )
        kind = fault["kind"] if fault else "clean"
        rows.append(
            {
                "path": record["wav_path"],
                "kind": kind,
                "keep": result.summary.keep,
                "logged_keep": clip["logged_keep"],
                "reasons": list(result.summary.reasons),
                "flagged": flagged_at_fault(result, fault) if fault and kind != "clean" else None,
                "words": [
                    (
                        getattr(w, "label_word", f"+@{getattr(w, 'position', '')}"),
                        w.primary_word,
                        w.secondary_word,
                        w.rule,
                    )
                    for w in (*result.words, *result.insertions)
                    if w.verdict in (*COUNTED_VERDICTS, "insertion")
                ],
                "explained": [
                    (w.label_word, w.primary_word, w.secondary_word, w.rule)
                    for w in result.words
                    if w.verdict not in (*COUNTED_VERDICTS, "pass")
                ],
            }
        )
    print("| kind | clips | not kept (now) | not kept (log) | flagged at the fault word | reasons (now) |")
    print("|---|---|---|---|---|---|")
    for kind in sorted({r["kind"] for r in rows}, key=lambda k: (k != "clean", k)):
        group = [r for r in rows if r["kind"] == kind]
        n = len(group)
        now = sum(not r["keep"] for r in group)
        logged = sum(r["logged_keep"] is False for r in group)
        flagged = "" if kind == "clean" else f"{sum(bool(r['flagged']) for r in group)}/{n}"
        reasons = Counter(reason for r in group for reason in r["reasons"])
        print(
            f"| {kind} | {n} | {now}/{n} = {now / n:.0%} | {logged}/{n} = {logged / n:.0%} | {flagged} | "
            + ", ".join(f"{k} {v}" for k, v in reasons.most_common())
            + " |"
        )
    print("\nclean clips not kept now:")
    for r in rows:
        if r["kind"] == "clean" and not r["keep"]:
            print(f"- {r['path']}: {', '.join(r['reasons'])}: {r['words']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
