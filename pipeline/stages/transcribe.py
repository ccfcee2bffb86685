"""The transcribe stage: one ASR engine (a judge from ``judges/``) over clips -> ``Transcript``s."""

from __future__ import annotations

from collections.abc import Sequence

from judges.base import ASRJudge, AudioItem, Transcript
from pipeline.records import ClipSource
from pipeline.stages.base import ItemFailure, Resources, Stage


class TranscribeStage(Stage[ClipSource, Transcript]):
    """One ASR engine as a pipeline stage."""

    def __init__(self, judge: ASRJudge, gpus: float = 0.0) -> None:
        self.judge = judge
        self.name = f"transcribe:{judge.info.name}"
        self.resources = Resources(cpus=1, gpus=gpus, batch_size=max(1, judge.info.batch_size))

    def setup(self) -> None:
        self.judge.setup()

    def teardown(self) -> None:
        self.judge.teardown()

    def process_batch(self, items: Sequence[ClipSource]) -> list[Transcript | ItemFailure]:
        return list(self.judge.judge_batch([AudioItem(c.file_hash, c.audio_path, c.text) for c in items]))
