"""``--format lhotse``: ``recordings_{split}.jsonl.gz`` and ``supervisions_{split}.jsonl.gz``
built with lhotse itself (``RecordingSet`` / ``SupervisionSet``), plus the wavs under ``audio/``.

One recording per clip, with one supervision covering it (text, speaker = voice, language).
Recording sources are relative to the export folder, so the folder can move; load with
``RecordingSet.from_file(...).with_path_prefix(export_dir)`` (or from inside the folder).
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.export.audio import Clip
from pipeline.export.writer import Writer

LANGUAGE = "English"


def recordings_name(split: str) -> str:
    return f"recordings_{split}.jsonl.gz"


def supervisions_name(split: str) -> str:
    return f"supervisions_{split}.jsonl.gz"


class LhotseWriter(Writer):
    name = "lhotse"

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet

        recordings, supervisions = [], []
        for clip in clips:
            relative = self.copy_audio(clip)
            num_samples = round(clip.seconds * clip.sample_rate)
            recordings.append(
                Recording(
                    id=clip.clip_id,
                    sources=[AudioSource(type="file", channels=[0], source=relative)],
                    sampling_rate=clip.sample_rate,
                    num_samples=num_samples,
                    duration=num_samples / clip.sample_rate,
                )
            )
            supervisions.append(
                SupervisionSegment(
                    id=clip.clip_id,
                    recording_id=clip.clip_id,
                    start=0.0,
                    duration=num_samples / clip.sample_rate,
                    channel=0,
                    text=clip.row["text"],
                    language=LANGUAGE,
                    speaker=clip.row.get("voice"),
                    custom={k: v for k, v in self.json_metadata(clip).items() if k not in ("text", "voice")},
                )
            )
        RecordingSet.from_recordings(recordings).to_file(self.out / recordings_name(split))
        SupervisionSet.from_segments(supervisions).to_file(self.out / supervisions_name(split))
