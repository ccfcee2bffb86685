"""``export_dataset``: selected clips -> splits -> one format's layout + dataset card, atomically.

The export is built in a hidden sibling folder and renamed into place, so a crash never leaves
half an export behind and an existing one is replaced only once the new one is complete.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.export.audio import Clip, ClipLoader, SkippedClip
from pipeline.export.card import FACTS_NAME, ExportedClip, build_facts, write_card
from pipeline.export.hf import HfWriter
from pipeline.export.jsonl import METADATA_NAME, JsonlWriter
from pipeline.export.lhotse_manifests import LhotseWriter
from pipeline.export.ljspeech import LJSpeechWriter
from pipeline.export.nemo import NemoWriter
from pipeline.export.selection import DEFAULT_TIMEOUT_S, ExportError, select_clips
from pipeline.export.splits import SplitPlan, assign_splits
from pipeline.export.writer import Writer, WriterOptions

WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (HfWriter, JsonlWriter, NemoWriter, LhotseWriter, LJSpeechWriter)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
_EXPORT_MARKERS = (FACTS_NAME, METADATA_NAME, "state.json", "dataset_info.json")  # files an export has


@dataclass(frozen=True, slots=True)
class ExportReport:
    dataset: str
    fmt: str
    out_dir: Path
    columns: tuple[str, ...]  # the metadata columns next to audio, in order
    rows: int  # clips written
    audio_s: float  # seconds of audio written
    skipped: tuple[SkippedClip, ...]
    splits: dict[str, int]  # split -> clips written (splits that got none are absent)
    empty_splits: tuple[str, ...]  # requested splits that got no clips

    @property
    def selected(self) -> int:
        return self.rows + len(self.skipped)

    @property
    def hours(self) -> float:
        return self.audio_s / 3600.0


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        return
    if out_dir.exists() and not overwrite:
        raise ExportError(f"{out_dir} already exists (pass overwrite / --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder")
    if out_dir.exists() and not any((out_dir / name).is_file() for name in _EXPORT_MARKERS):
        # --overwrite replaces an earlier export, never a folder of something else (a dataset dir).
        raise ExportError(f"{out_dir} exists and is not an export; refusing to replace it")


def _publish(built: Path, out_dir: Path) -> None:
    """Move the finished export into place; an existing one is swapped out, then removed."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        built.rename(out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    out_dir.rename(old)
    built.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def export_command(
    *,
    dataset: str,
    where: str | None,
    fmt: str,
    out_dir: Path,
    columns: Sequence[str] | None,
    split_plan: SplitPlan | None,
    sample_rate: int | None,
    combine: bool,
    licence: str,
) -> str:
    """The ``pipeline export`` command line that reproduces an export (for its card)."""
    args = ["pipeline", "export", "--dataset", dataset]
    args += ["--where", where] if where else []
    args += ["--format", fmt, "--out", str(out_dir)]
    args += ["--column", ",".join(columns)] if columns is not None else []
    if split_plan is not None:
        ratios = ",".join(f"{r:g}" for r in split_plan.ratios)
        args += ["--splits", ratios, "--split-by", split_plan.split_by, "--seed", str(split_plan.seed)]
    args += ["--sample-rate", str(sample_rate)] if sample_rate else []
    args += ["--combine"] if combine else []
    args += ["--license", licence] if licence != "other" else []
    return shlex.join(args)


def export_dataset(
    store,
    *,
    dataset: str,
    where: str | None,
    out_dir: Path,
    fmt: str,
    columns: list[str] | None,
    datasets_dir: Path,
    overwrite: bool = False,
    verify_hash: bool = True,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    split_plan: SplitPlan | None = None,
    sample_rate: int | None = None,
    combine: bool = False,
    licence: str = "other",
    progress: Callable[[int, int], None] | None = None,
) -> ExportReport:
    """Write the clips of ``dataset`` that pass the selection rules to ``out_dir`` as ``fmt``.

    ``columns`` are audio_quality columns written next to ``audio``, ``text`` and ``file_hash``
    (None = ``DEFAULT_COLUMNS``). ``split_plan`` (None = everything in ``train``) assigns clips to
    sentence-disjoint splits. Rows whose wav is missing, unreadable or (``verify_hash``) no longer
    the one scored are skipped and listed in the report and the card. ``progress(done, total)``
    is called after each clip. Raises ExportError (a ValueError) for a bad filter, column, format
    or sample rate, an empty selection, or an existing ``out_dir`` without ``overwrite``; nothing
    is written then.
    """
    if fmt not in WRITERS:
        raise ExportError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    writer_type = WRITERS[fmt]
    if sample_rate is not None and (not writer_type.resamples or sample_rate < 8000):
        where_ok = ", ".join(n for n, w in WRITERS.items() if w.resamples)
        raise ExportError(f"--sample-rate {sample_rate}: only for --format {where_ok}, and at least 8000 Hz")
    if combine and not writer_type.combines:
        raise ExportError(f"--combine: only for --format {', '.join(n for n, w in WRITERS.items() if w.combines)}")
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    selection = select_clips(store, dataset=dataset, where=where, columns=columns, timeout_s=timeout_s)
    assignment = assign_splits(selection.rows, split_plan)
    split_names = split_plan.names if split_plan else ("train",)
    loader = ClipLoader(Path(datasets_dir) / dataset, verify_hash=verify_hash)
    exported: list[ExportedClip] = []

    def tally(split: str, clips: Iterable[Clip]) -> Iterator[Clip]:
        for clip in clips:
            exported.append(ExportedClip(split, clip.row, clip.seconds))
            yield clip
            if progress is not None:
                progress(len(exported) + len(loader.skipped), len(selection.rows))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        (stage / "out").mkdir()
        options = WriterOptions(selection.columns, selection.types, split_plan is not None, sample_rate, combine)
        writer = writer_type(stage / "out", stage, options)
        for split in split_names:
            rows = [row for row in selection.rows if assignment[row["file_hash"]] == split]
            if rows:
                writer.write_split(split, tally(split, loader.load(rows)))
        if not exported:
            first = loader.skipped[0].reason if loader.skipped else "no clips"
            raise ExportError(f"none of the {len(selection.rows)} selected clips could be exported (first: {first})")
        filled = [s for s in split_names if any(c.split == s for c in exported)]
        writer.finish(filled)
        command = export_command(
            dataset=dataset,
            where=where,
            fmt=fmt,
            out_dir=out_dir,
            columns=columns,
            split_plan=split_plan,
            sample_rate=sample_rate,
            combine=combine,
            licence=licence,
        )
        facts = build_facts(
            selection,
            exported,
            loader.skipped,
            fmt=fmt,
            command=command,
            split_plan=split_plan.describe() if split_plan else None,
            splits=filled,
            empty_splits=[s for s in split_names if s not in filled],
            sample_rate=sample_rate,
            licence=licence,
        )
        write_card(stage / "out", facts)
        _publish(stage / "out", out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return ExportReport(
        dataset=dataset,
        fmt=fmt,
        out_dir=out_dir,
        columns=tuple(selection.columns),
        rows=len(exported),
        audio_s=sum(c.seconds for c in exported),
        skipped=tuple(loader.skipped),
        splits={s: sum(c.split == s for c in exported) for s in filled},
        empty_splits=tuple(s for s in split_names if s not in filled),
    )
