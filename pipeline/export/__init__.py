"""``pipeline export``: the selected clips of a dataset become a training set that trainers load
as is: ``hf`` (``datasets``, decodable, plus Hub-ready parquet), ``nemo`` (JSONL manifests),
``lhotse`` (recordings + supervisions), ``ljspeech`` (``metadata.csv`` + resampled wavs) or
``jsonl`` (audiofolder), each with a dataset card (``README.md``) and ``export.json``.

Modules: ``selection`` (which clips: the one function heal and review extend), ``splits``
(sentence-disjoint train/validation/test), ``audio`` (reading and checking wavs), one module per
format, ``card`` (README.md + export.json), ``run`` (``export_dataset``, atomic publish).

Example::

    report = export_dataset(store, dataset="main", where="keep", out_dir=Path("work/exports/main-hf"),
                            fmt="hf", columns=None, datasets_dir=settings.datasets_dir,
                            split_plan=SplitPlan.parse("0.9,0.05,0.05", split_by="chapter"))
    print(report.rows, report.hours, report.splits, len(report.skipped))
"""

from pipeline.export.audio import SkippedClip
from pipeline.export.run import FORMATS, ExportReport, export_dataset
from pipeline.export.selection import ALWAYS_COLUMNS, DEFAULT_COLUMNS, ExportError, Selection, select_clips
from pipeline.export.splits import SPLIT_BY, SplitPlan, assign_splits
from pipeline.export.values import plain

__all__ = [
    "ALWAYS_COLUMNS",
    "DEFAULT_COLUMNS",
    "FORMATS",
    "SPLIT_BY",
    "ExportError",
    "ExportReport",
    "Selection",
    "SkippedClip",
    "SplitPlan",
    "assign_splits",
    "export_dataset",
    "plain",
    "select_clips",
]
