"""Fit the word-confidence calibration of ASR engines: raw word confidence -> probability that the
word is right, one table per engine and model in ``data/calibration/`` (read by
``pipeline.calibration``).

    python benchmarks/fit_calibration.py DATASET_DIR [DATASET_DIR ...] [--engines whisper whisper-tiny]
        [--method isotonic|platt] [--out data/calibration] [--transcripts cache.json] [--note TEXT]

Each DATASET_DIR is a dataset of ours (``manifest.jsonl``): a ``pipeline generate`` output, or
a set built by the detection benchmark (``benchmarks/detection.py``; its ``faults.json`` is
read when present). Every clip is transcribed by each engine and every engine word is marked
right or wrong against what the audio says:

* clean clips (a generate output, or the benchmark's ``clean`` clips): the label;
* text faults of the benchmark (substitution, deletion, insertion, repetition, truncation,
  swap): the edited text Kokoro was asked to say, so a word is right when the engine heard what
  was spoken;
* G2P faults (heteronym, spelled out): the clip is left out (what was "said" is not a word).

A word is right when the verdict reading of its engine aligns it to the reference exactly or
for a reason a rule explains (``verdicts.read_engine``); words under a wrong reading and extra
words are wrong. Isotonic regression (scikit-learn) gives a monotone step map; its knots are
stored. ``--method platt`` fits a logistic map instead (stored as 41 knots). The script prints
Brier score and expected calibration error of the raw and the calibrated confidences.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from judges.base import AudioItem, Transcript
from judges.registry import build_asr
from pipeline.calibration import CALIBRATION_DIR, file_name
from pipeline.lexicon import g2p_lexicon
from pipeline.settings import Settings
from pipeline.sources import discover
from verdicts import Calibration, Hypothesis, Word, normalize, read_engine

log = logging.getLogger("fit_calibration")

TEXT_FAULTS = frozenset(
    {"substitution", "deletion", "insertion", "repetition_word", "repetition_phrase", "truncation", "swap"}
)
# misaki markup the benchmark uses for G2P faults: [word](/phonemes/)
_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True, slots=True)
class Clip:
    key: str  # file_hash
    audio_path: str
    reference: str  # what the audio says
    source: str  # "clean" or the fault kind


def clips_of(dataset_dir: Path, settings: Settings) -> list[Clip]:
    """The clips of one dataset with the text their audio says (see the module docstring)."""
    sources, _ = discover(dataset_dir, dataset_dir.name, settings.work_dir / "hf_audio")
    faults_path = dataset_dir / "faults.json"
    specs = {}
    if faults_path.is_file():
        specs = {row["wav_path"]: row for row in json.loads(faults_path.read_text(encoding="utf-8"))}
    out = []
    for clip in sources:
        if clip.text is None:
            continue
        spec = specs.get(clip.path)
        if spec is None or spec["kind"] == "clean":
            out.append(Clip(clip.file_hash, clip.audio_path, clip.text, "clean"))
        elif spec["kind"] in TEXT_FAULTS:
            out.append(Clip(clip.file_hash, clip.audio_path, _MARKUP.sub(r"\1", spec["edited"]), spec["kind"]))
    return out


def transcribe(clips: Sequence[Clip], engine: str, settings: Settings, cache: dict) -> list[Transcript]:
    """Transcripts of every clip by one engine, from ``cache`` where it has them."""
    judge = None
    out = []
    for clip in clips:
        key = f"{engine}:{clip.key}"
        if key not in cache:
            if judge is None:
                judge = build_asr(engine, settings)
                judge.setup()
            tx = judge.judge_batch([AudioItem(clip.key, clip.audio_path, clip.reference)])[0]
            cache[key] = {
                "engine": tx.engine,
                "model": tx.model,
                "text": tx.text,
                "words": [[w.text, w.start, w.end, w.confidence] for w in tx.words],
                "error": tx.error,
            }
        row = cache[key]
        words = tuple(Word(*w) for w in row["words"])
        out.append(Transcript(clip.key, row["engine"], row["model"], row["text"], words, 0.0, row["error"]))
    if judge is not None:
        judge.teardown()
    return out


def labelled_words(clip: Clip, tx: Transcript) -> list[tuple[float, int]]:
    """(raw confidence, 1 = right / 0 = wrong) for each engine word with a confidence."""
    if tx.error is not None or not tx.words:
        return []
    reading = read_engine(normalize(clip.reference), Hypothesis(tx.engine, tx.text, tx.words), g2p_lexicon())
    mapping = reading.engine_words
    if mapping is None:
        return []
    token_right: dict[int, bool] = {}
    for token in reading.tokens:
        for k in token.hyp:
            failed = token.explanation is not None and token.explanation.verdict == "tts_failure"
            token_right[k] = token_right.get(k, True) and token.status != "wrong" and not failed
    for inserted in reading.insertions:
        for k in inserted.hyp:
            token_right[k] = inserted.explanation is not None
    word_right: dict[int, bool] = {}
    for k, source_word in enumerate(reading.norm.source):
        for i in mapping[source_word]:
            word_right[i] = word_right.get(i, True) and token_right.get(k, False)
    return [
        (w.confidence, int(word_right.get(i, False)))
        for i, w in enumerate(tx.words)
        if w.confidence is not None and i in word_right
    ]


def fit_isotonic(x: Sequence[float], y: Sequence[int]) -> tuple[list[float], list[float]]:
    """Isotonic regression, each constant block's rate smoothed to (right + 1) / (words + 2) (with
    few wrong words a raw block rate of exactly 1.0 would claim certainty), kept monotone."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(x, y)
    fitted = model.predict(x)
    blocks: dict[float, list[int]] = {}
    for level, right in zip(fitted, y, strict=True):
        blocks.setdefault(round(float(level), 9), []).append(right)
    smoothed = {level: (sum(r) + 1) / (len(r) + 2) for level, r in blocks.items()}
    xs = [float(v) for v in model.X_thresholds_]
    ys, floor = [], 0.0
    for level in model.y_thresholds_:
        floor = max(floor, smoothed.get(round(float(level), 9), float(level)))
        ys.append(floor)
    return xs, ys


def fit_platt(x: Sequence[float], y: Sequence[int]) -> tuple[list[float], list[float]]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4).fit(np.asarray(x).reshape(-1, 1), y)
    knots = np.linspace(0.0, 1.0, 41)
    return [float(v) for v in knots], [float(v) for v in model.predict_proba(knots.reshape(-1, 1))[:, 1]]


def brier(p: Iterable[float], y: Sequence[int]) -> float:
    return sum((pi - yi) ** 2 for pi, yi in zip(p, y, strict=True)) / len(y)


def ece(p: Sequence[float], y: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        ix = [i for i, pi in enumerate(p) if lo <= pi < hi or (b == bins - 1 and pi == 1.0)]
        if ix:
            total += len(ix) * abs(sum(p[i] for i in ix) / len(ix) - sum(y[i] for i in ix) / len(ix))
    return total / len(p)


def fit_engine(
    engine: str, clips: Sequence[Clip], settings: Settings, method: str, cache: dict, sources: list[str]
) -> Calibration:
    transcripts = transcribe(clips, engine, settings, cache)
    pairs = [pair for clip, tx in zip(clips, transcripts, strict=True) for pair in labelled_words(clip, tx)]
    if not pairs or len({y for _, y in pairs}) < 2:
        raise SystemExit(f"{engine}: need both right and wrong words to fit (got {len(pairs)} words)")
    x = [c for c, _ in pairs]
    y = [r for _, r in pairs]
    xs, ys = fit_isotonic(x, y) if method == "isotonic" else fit_platt(x, y)
    model = next(t.model for t in transcripts if t.error is None)
    by_source: dict[str, int] = {}
    for clip in clips:
        by_source[clip.source] = by_source.get(clip.source, 0) + 1
    draft = Calibration(engine, model, tuple(xs), tuple(ys), method)
    calibrated = [draft(c) for c in x]
    stats = {
        "datasets": sources,
        "clips": by_source,
        "words": len(y),
        "wrong_words": len(y) - sum(y),
        "brier_raw": round(brier(x, y), 5),
        "brier_calibrated": round(brier(calibrated, y), 5),
        "ece_raw": round(ece(x, y), 5),
        "ece_calibrated": round(ece(calibrated, y), 5),
        "fitted": dt.date.today().isoformat(),
        "script": "benchmarks/fit_calibration.py",
    }
    return Calibration(engine, model, tuple(round(v, 6) for v in xs), tuple(round(v, 6) for v in ys), method, stats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", type=Path, nargs="+", help="dataset dirs with manifest.jsonl")
    parser.add_argument("--engines", nargs="+", default=["whisper", "whisper-tiny"])
    parser.add_argument("--method", choices=("isotonic", "platt"), default="isotonic")
    parser.add_argument("--out", type=Path, default=CALIBRATION_DIR)
    parser.add_argument("--transcripts", type=Path, help="JSON cache of transcripts (reused by refits)")
    parser.add_argument("--note", help="what the datasets are (stored in the table's fitted_on)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings()
    clips = [clip for d in args.datasets for clip in clips_of(d, settings)]
    if not clips:
        raise SystemExit("no clips with labels found")
    cache = {}
    if args.transcripts and args.transcripts.is_file():
        cache = json.loads(args.transcripts.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        for engine in args.engines:
            sources = [args.note] if args.note else [str(d) for d in args.datasets]
            cal = fit_engine(engine, clips, settings, args.method, cache, sources)
            path = args.out / file_name(cal.engine, cal.model)
            path.write_text(json.dumps(cal.to_json(), indent=1) + "\n", encoding="utf-8")
            s = cal.fitted_on
            print(
                f"{engine} ({cal.model}): {s['words']} words, {s['wrong_words']} wrong; Brier {s['brier_raw']} -> "
                f"{s['brier_calibrated']}, ECE {s['ece_raw']} -> {s['ece_calibrated']}; {len(cal.xs)} knots -> {path}"
            )
    finally:
        if args.transcripts:
            args.transcripts.write_text(json.dumps(cache), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
