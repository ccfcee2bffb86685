"""Typer options shared by several commands, declared once (same flag, same help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.choices import ASREngine, EngineMode, Headings, MosMode, Only, RunMode, RunnerKind, TTSBackendName

WorkDir = Annotated[Path | None, typer.Option(help="Work dir (default ./work, or PIPELINE_WORK_DIR).")]
Db = Annotated[bool, typer.Option("--db/--no-db", help="Upsert rows into Postgres (default on).")]
Verbose = Annotated[bool, typer.Option("--verbose", help="Debug logging.")]
Runner = Annotated[RunnerKind | None, typer.Option(help="Where stages run: local (default) or ray (Ray Data actors).")]
RayAddress = Annotated[str | None, typer.Option(help="Ray cluster to join (default RAY_ADDRESS, else a local one).")]
DatasetName = Annotated[str, typer.Option(help="Dataset name (folder under <work>/datasets, dataset column).")]
DatasetFilter = Annotated[str | None, typer.Option(help="Only this dataset (default: all).")]
Workers = Annotated[int | None, typer.Option(min=0, help="Worker processes (0 = one per core).")]

# generate
Book = Annotated[Path, typer.Option("--book", "-b", help="Plain-text book (UTF-8, cp1252, latin-1).")]
Voices = Annotated[
    list[str] | None, typer.Option("--voice", "-v", help="Voice, alias, named blend or recipe (repeatable).")
]
Chapters = Annotated[str | None, typer.Option(help="Chapters to render: 1 | 1-3 | 1,4 | all.")]
Limit = Annotated[int | None, typer.Option(min=1, help="Render only the first N chunks.")]
Speed = Annotated[float | None, typer.Option(help="Speaking rate (1.0 = normal).")]
Seed = Annotated[int | None, typer.Option(help="Base seed (torch backend noise).")]
Backend = Annotated[TTSBackendName | None, typer.Option(help="TTS backend: onnx (embedded default) or torch.")]
Threads = Annotated[int | None, typer.Option(min=1, help="Threads per worker.")]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Chunks per worker batch.")]
SynthesisBatch = Annotated[
    int | None, typer.Option(min=1, max=64, help="Torch backend: chunks per padded forward pass (1 = one at a time).")
]
TargetSeconds = Annotated[float | None, typer.Option(help="Target chunk length in seconds.")]
HeadingsOpt = Annotated[Headings | None, typer.Option("--headings", help="Chapter headings: own chunk or drop.")]
KeepCaps = Annotated[
    bool | None,
    typer.Option(
        "--keep-caps/--fix-caps",
        help="Leave ALL-CAPS dictionary words the G2P spells letter by letter (default: read them as words).",
    ),
]
Combine = Annotated[bool, typer.Option(help="Also write one combined wav per voice.")]

# validate
Engines = Annotated[EngineMode, typer.Option(help="Which recognizers run.")]
Mode = Annotated[RunMode, typer.Option(help="batch (stage by stage) | stream (clip by clip).")]
PrimaryEngine = Annotated[ASREngine | None, typer.Option(help="Primary ASR engine (auto: production if installed).")]
SecondaryEngine = Annotated[ASREngine | None, typer.Option(help="Secondary ASR engine (same choices).")]
MosModeOpt = Annotated[MosMode | None, typer.Option("--mos-mode", help="Which clips the MOS judges score.")]
MosSampleRate = Annotated[float | None, typer.Option(help="Fraction scored in sample mode (seeded).")]
TierWer = Annotated[
    str | None,
    typer.Option(help="Tier bounds on adjusted WER: STRICT,BALANCED,PERMISSIVE (default 0.02,0.05,0.10)."),
]
TierConfidence = Annotated[
    str | None,
    typer.Option(help="Tier minimums of calibrated confidence: STRICT,BALANCED,PERMISSIVE (default 0.95,0.90,0.80)."),
]
# validate: scans over stored results (clip selection reads the database)
OnlyOpt = Annotated[
    Only,
    typer.Option(
        "--only",
        help="Clips by stored state: all | unvalidated | flagged (not kept) | passed (kept) | escalated (with"
        " --engines secondary only: the clips the cascade escalates, from the stored primary words; the second"
        " stage of a staged scan, once spelled `--engines secondary --only flagged`, which still works).",
    ),
]
ScanLimit = Annotated[int | None, typer.Option("--limit", min=1, help="At most N clips (after the other filters).")]
ScanVoice = Annotated[str | None, typer.Option("--voice", help="Only clips of this voice (name or recipe).")]
ScanBook = Annotated[str | None, typer.Option("--book", help="Only clips of this book id.")]
Force = Annotated[bool, typer.Option("--force", help="Redo clips whose stored results already match this run.")]
Reverdict = Annotated[
    bool, typer.Option("--reverdict", help="Re-apply the current rules to the stored transcripts (no ASR, no audio).")
]
MosOnly = Annotated[bool, typer.Option("--mos-only", help="Only score MOS on the selected clips (no ASR).")]
ProgressOpt = Annotated[
    str, typer.Option("--progress", help="bar (default) | json: one JSON line per update on stderr, for logs.")
]
AudioColumn = Annotated[str, typer.Option(help="HF dataset audio column.")]
TextColumn = Annotated[str, typer.Option(help="HF dataset text column.")]


def tier_overrides(tier_wer: str | None, tier_confidence: str | None) -> dict[str, float]:
    """Settings overrides from ``--tier-wer`` / ``--tier-confidence`` ("0.95,0.9,0.8")."""
    out: dict[str, float] = {}
    for flag, value, suffix in (("--tier-wer", tier_wer, "wer"), ("--tier-confidence", tier_confidence, "confidence")):
        if value is None:
            continue
        try:
            numbers = [float(part) for part in value.split(",")]
        except ValueError:
            numbers = []
        if len(numbers) != 3:
            raise typer.BadParameter(f"{flag} takes three numbers, STRICT,BALANCED,PERMISSIVE; got {value!r}")
        out |= {f"{tier}_{suffix}": n for tier, n in zip(("strict", "balanced", "permissive"), numbers, strict=True)}
    return out
