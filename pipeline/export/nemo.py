"""``--format nemo``: ``manifest_{split}.json`` (JSON lines) + wavs under ``audio/``.

Each line has the keys NeMo's ASR and TTS dataset classes read, ``audio_filepath``, ``duration``
(seconds) and ``text``, plus ``offset``, ``speaker`` (an
integer per voice, for multi-speaker TTS recipes), ``voice`` and the metadata columns.
``audio_filepath`` is relative to the manifest's folder, which NeMo resolves against the
manifest's location. Each clip is its own wav (``offset`` 0.0), or with ``combine`` the clips of
one split, book and voice are joined, in book order, into ``audio/combined/<split>/<book>__<voice>.wav``
and each line's ``offset`` is where its clip starts there.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import soundfile as sf

from pipeline.export.audio import Clip
from pipeline.export.writer import AUDIO_DIR, Writer

NEMO_KEYS = ("audio_filepath", "duration", "text", "offset")


def manifest_name(split: str) -> str:
    return f"manifest_{split}.json"


class _Combined:
    """Clips appended to one long wav per (book, voice, sample rate); where each one starts."""

    def __init__(self, out: Path, folder: str) -> None:
        self.out = out
        self.folder = folder
        self.key: tuple | None = None
        self.file: sf.SoundFile | None = None
        self.relative = ""
        self.frames = 0

    def add(self, clip: Clip) -> tuple[str, float]:
        key = (clip.row.get("book"), clip.row.get("voice"), clip.sample_rate)
        if key != self.key:
            self.close()
            stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{key[0]}__{key[1]}").strip("_")
            self.relative = f"{self.folder}/{stem}.wav"
            self.key, self.frames = key, 0
        if self.file is None:
            # Rows come in book, voice order, so a (book, voice) group is contiguous within a split.
            target = self.out / self.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            self.file = sf.SoundFile(target, "w", samplerate=clip.sample_rate, channels=1, subtype="PCM_16")
        samples, _ = sf.read(io.BytesIO(clip.data), dtype="int16")
        offset = self.frames / clip.sample_rate
        self.file.write(samples if samples.ndim == 1 else samples.mean(axis=1).astype("int16"))
        self.frames += len(samples)
        return self.relative, offset

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class NemoWriter(Writer):
    name = "nemo"
    combines = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.speakers: dict[str, int] = {}

    def _speaker(self, clip: Clip) -> int:
        return self.speakers.setdefault(str(clip.row.get("voice")), len(self.speakers))

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        combined = _Combined(self.out, f"{AUDIO_DIR}/combined/{split}") if self.options.combine else None
        with (self.out / manifest_name(split)).open("w", encoding="utf-8") as handle:
            for clip in clips:
                metadata = self.json_metadata(clip)
                path, offset = combined.add(clip) if combined is not None else (self.copy_audio(clip), 0.0)
                line = {
                    "audio_filepath": path,
                    "duration": round(clip.seconds, 6),
                    "text": clip.row["text"],
                    "offset": round(offset, 6),
                    "speaker": self._speaker(clip),
                    "voice": clip.row.get("voice"),
                    **{k: v for k, v in metadata.items() if k not in ("text", "voice")},
                }
                handle.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
        if combined is not None:
            combined.close()

    def finish(self, splits: Sequence[str]) -> None:
        (self.out / "speakers.json").write_text(json.dumps(self.speakers, indent=2) + "\n", encoding="utf-8")
