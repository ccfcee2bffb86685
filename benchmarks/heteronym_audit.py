"""Heteronym audit benchmark: no synthesis, no recognizer, only the G2P audit ``generate`` runs.

    python benchmarks/heteronym_audit.py data/books/alice.txt data/books/sherlock_scandal.txt
        [--seeds 0 1 2 ...] [--per-seed 20] [--json OUT]

Two figures, both from the project's chunker and auditor (``pipeline.tts.g2p_audit``):

* **Misreadings caught**: for each seed, the heteronym faults of the detection set
  (``benchmarks/detection.py``; the same planner, so seed 0 here is seed 0's heteronym clips
  there): a heteronym fed with the reading the G2P did not choose in context. Caught = the fed
  word gets ``g2p.heteronym_disputed`` (the flag that costs a clip its place; a recognizer cannot
  hear which reading was said). ``g2p.heteronym_uncertain`` (review only) is counted apart.
* **Clean readings disputed**: every passage of the books read as ``generate`` reads it; each
  ``g2p.heteronym_disputed`` there costs a clean clip its place in production unless the G2P
  really got it wrong (the disputed words are listed, so a reader can judge which).

The detection set's heteronym kind then only differs from the first figure where a recognizer
happens to reject the clip for another reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from faultset.build import Phonemizers, SetConfig, load_passages, plan_set, read_tokens
from faultset.faults import FaultKind

from pipeline.tts.g2p_audit import G2P_HETERONYM_DISPUTED, G2P_HETERONYM_UNCERTAIN


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("books", type=Path, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--per-seed", type=int, default=20, help="heteronym faults per seed (the detection set's)")
    parser.add_argument("--target-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="write every fault and every clean dispute here")
    return parser.parse_args(argv)


def _rules_on(flags, word: str) -> set[str]:
    return {f["rule"] for f in flags if f["word"].lower() == word.lower()}


def misreadings(config: SetConfig, phon: Phonemizers, passages) -> list[dict]:
    out = []
    for spec in plan_set(config, phon, passages):
        word = spec.targets[0].strip(".,;:!?\"'()“”‘’-—_").lower()
        rules = _rules_on(spec.g2p_flags, word)
        details = [f["detail"] for f in spec.g2p_flags if f["word"].lower() == word]
        out.append(
            {
                "seed": config.seed,
                "clip": spec.clip,
                "voice": spec.voice,
                "label": spec.label,
                "fault": spec.detail,
                "caught": G2P_HETERONYM_DISPUTED in rules,
                "uncertain": G2P_HETERONYM_UNCERTAIN in rules and G2P_HETERONYM_DISPUTED not in rules,
                "details": details,
            }
        )
    return out


def clean_disputes(passages, phon: Phonemizers) -> tuple[int, list[dict]]:
    """(passages read per English, the disputed and uncertain heteronyms among them)."""
    out, n = [], 0
    for lang in "ab":
        auditor = phon.auditor(lang)
        for items in passages.values():
            for passage in items:
                n += 1
                reading = read_tokens(passage.label.split(), auditor)
                for flag in reading.g2p_flags:
                    if flag["rule"] in (G2P_HETERONYM_DISPUTED, G2P_HETERONYM_UNCERTAIN):
                        out.append({"lang": lang, "label": passage.label, **flag})
    return n, out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phon = Phonemizers()
    passages = load_passages(args.books, phon.g2p("a"), args.target_seconds)
    faults = []
    for seed in args.seeds:
        config = SetConfig(tuple(args.books), seed=seed, per_fault=args.per_seed, clean=0, kinds=(FaultKind.heteronym,))
        faults += misreadings(config, phon, passages)
    n_clean, disputes = clean_disputes(passages, phon)
    caught = sum(f["caught"] for f in faults)
    uncertain = sum(f["uncertain"] for f in faults)
    print(f"misreadings caught (disputed): {caught}/{len(faults)} = {100 * caught / len(faults):.1f} %")
    print(f"misreadings only uncertain (review): {uncertain}")
    for seed in args.seeds:
        mine = [f for f in faults if f["seed"] == seed]
        print(f"  seed {seed}: {sum(f['caught'] for f in mine)}/{len(mine)}")
    counted = Counter(d["rule"] for d in disputes)
    print(
        f"clean passage readings (US + GB): {n_clean}; disputed {counted[G2P_HETERONYM_DISPUTED]}, "
        f"uncertain {counted[G2P_HETERONYM_UNCERTAIN]}"
    )
    for d in disputes:
        if d["rule"] == G2P_HETERONYM_DISPUTED:
            print(f"  disputed [{d['lang']}] {d['word']}: {d['detail']} | {d['label'][:90]}")
    print("missed:")
    for f in faults:
        if not f["caught"]:
            said = " ; ".join(f["details"]) or "no flag"
            print(f"  s{f['seed']} {f['clip']} {f['fault']} | {said} | {f['label'][:90]}")
    if args.json:
        args.json.write_text(json.dumps({"faults": faults, "clean": disputes}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
