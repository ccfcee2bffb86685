"""``--format nemo``: ``manifest_{split}.json`` (JSON lines) + wavs under ``audio/``.

Each line has the keys NeMo's ASR and TTS dataset classes read, ``audio_filepath``, ``duration``
(seconds) and ``text``, plus ``offset`` (always 0.0: each clip is its own file), ``speaker`` (an
integer per voice, for multi-speaker TTS recipes), ``voice`` and the metadata columns.
``audio_filepath`` is relative to the manifest's folder, which NeMo resolves against the
manifest's location.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pipeline.export.audio import Clip
from pipeline.export.writer import Writer

NEMO_KEYS = ("audio_filepath", "duration", "text", "offset")


def manifest_name(split: str) -> str:
    return f"manifest_{split}.json"


class NemoWriter(Writer):
    name = "nemo"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.speakers: dict[str, int] = {}

    def _speaker(self, clip: Clip) -> int:
        return self.speakers.setdefault(str(clip.row.get("voice")), len(self.speakers))

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        with (self.out / manifest_name(split)).open("w", encoding="utf-8") as handle:
            for clip in clips:
                metadata = self.json_metadata(clip)
                line = {
                    "audio_filepath": self.copy_audio(clip),
                    "duration": round(clip.seconds, 6),
                    "text": clip.row["text"],
                    "offset": 0.0,
                    "speaker": self._speaker(clip),
                    "voice": clip.row.get("voice"),
                    **{k: v for k, v in metadata.items() if k not in ("text", "voice")},
                }
                handle.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")

    def finish(self, splits: Sequence[str]) -> None:
        (self.out / "speakers.json").write_text(json.dumps(self.speakers, indent=2) + "\n", encoding="utf-8")
