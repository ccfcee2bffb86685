"""``--format ljspeech``: ``wavs/<id>.wav`` (mono PCM16, resampled to ``--sample-rate`` with soxr)
and ``metadata.csv`` lines ``id|text|normalized text`` without a header, the layout Piper, Coqui
and StyleTTS2 recipes read. With ``--splits`` also ``metadata_<split>.csv`` (same lines).

The normalized text expands numbers and abbreviations the way the validator reads them
(``1865`` -> ``eighteen sixty five``, ``Mr.`` -> ``mister``) and keeps every other word as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pipeline.export.audio import Clip, pcm16
from pipeline.export.writer import Writer

DEFAULT_SAMPLE_RATE = 22_050  # LJSpeech's own rate
METADATA_NAME = "metadata.csv"
WAVS_DIR = "wavs"
_TITLE = re.compile(r"^(mr|mrs|dr)\.$", re.IGNORECASE)


def one_line(text: str) -> str:
    """A label as one metadata.csv field: no newlines, no field separator."""
    return re.sub(r"\s+", " ", text.replace("|", " ")).strip()


def normalized_text(text: str) -> str:
    from verdicts.normalize import normalize, unify

    words = []
    for word in one_line(unify(text)).split(" "):
        if _TITLE.match(word):  # the dot is the abbreviation's, not the sentence's
            words.append(" ".join(normalize(word).tokens))
        elif any(ch.isdigit() for ch in word):
            core = word.strip(".,;:!?\"'()[]")
            start = word.index(core)
            words.append(word[:start] + " ".join(normalize(core).tokens) + word[start + len(core) :])
        else:
            words.append(word)
    return " ".join(w for w in words if w)


class LJSpeechWriter(Writer):
    name = "ljspeech"
    resamples = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[str, list[str]] = {}
        (self.out / WAVS_DIR).mkdir(parents=True, exist_ok=True)

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        rate = self.options.sample_rate or DEFAULT_SAMPLE_RATE
        lines = self.lines.setdefault(split, [])
        for clip in clips:
            (self.out / WAVS_DIR / f"{clip.clip_id}.wav").write_bytes(pcm16(clip.data, rate))
            text = one_line(clip.row["text"])
            lines.append(f"{clip.clip_id}|{text}|{normalized_text(text)}\n")

    def finish(self, splits: Sequence[str]) -> None:
        everything = [line for split in splits for line in self.lines.get(split, [])]
        (self.out / METADATA_NAME).write_text("".join(everything), encoding="utf-8")
        if self.options.split_requested:
            for split in splits:
                (self.out / f"metadata_{split}.csv").write_text("".join(self.lines[split]), encoding="utf-8")
