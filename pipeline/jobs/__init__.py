"""The library API: each job is one function taking a typed request and ``Settings`` and returning
a typed report; progress and notes go to an optional ``Reporter``. The CLI commands, ``serve``,
Ray and tests call these, so the orchestration lives here once.

Example::

    from pathlib import Path
    from pipeline.jobs import GenerateRequest, ValidateRequest, generate, validate
    from pipeline.settings import get_settings

    settings = get_settings()
    generate(GenerateRequest(book=Path("data/books/alice.txt"), chapters="1"), settings)
    report = validate(ValidateRequest(source=settings.datasets_dir / "main"), settings)
    reverdict(ReverdictRequest(dataset="main"), settings)   # current rules on the stored transcripts
"""

from pipeline.jobs.errors import JobError
from pipeline.jobs.generate import DatabaseOutcome, GenerateReport, GenerateRequest, generate
from pipeline.jobs.reporting import LogReporter, Reporter
from pipeline.jobs.scans import MosRequest, ReverdictRequest, ScanReport, reverdict, score_mos
from pipeline.jobs.validate import ValidateReport, ValidateRequest, validate

__all__ = [
    "DatabaseOutcome",
    "GenerateReport",
    "GenerateRequest",
    "JobError",
    "LogReporter",
    "MosRequest",
    "Reporter",
    "ReverdictRequest",
    "ScanReport",
    "ValidateReport",
    "ValidateRequest",
    "generate",
    "reverdict",
    "score_mos",
    "validate",
]
