"""What ``pipeline validate`` reads: our dataset dirs, a manifest, any folder of ``x.wav`` + ``x.txt``
pairs (recursive), or a Hugging Face dataset saved with ``save_to_disk``.
A folder's labels are ``x.txt`` (or ``x.lab``) beside ``x.wav``.

Every clip becomes a ``ClipSource`` keyed by the sha256 of its wav bytes. Problems that leave a
clip without audio (a ``.txt`` with no ``.wav``) are returned as ``SourceIssue``s for the summary;
problems with a clip that has audio (an empty or unreadable label) travel with the clip and end
up as an error row, so nothing is silently skipped. A wav with no label at all is unlabeled audio
(``ClipSource.labeled`` is False): it gets MOS and signal metrics, and no verdicts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.files import sha256_file
from pipeline.manifest import MANIFEST_NAME, Manifest
from pipeline.records import AudioRecord, ClipSource

log = logging.getLogger(__name__)

LABEL_SUFFIXES = (".txt", ".lab")  # the label beside x.wav: x.txt, else x.lab


@dataclass(frozen=True, slots=True)
class SourceIssue:
    path: str
    problem: str


def read_label(path: Path) -> tuple[str | None, str | None]:
    """(text, problem): UTF-8, else cp1252 with a warning; an empty label is a problem."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        log.warning("%s is not UTF-8; decoded as cp1252", path)
    text = " ".join(text.split())
    if not text:
        return None, f"{path.name} is empty"
    return text, None


def from_manifest(manifest_path: Path, dataset: str) -> tuple[list[ClipSource], list[SourceIssue]]:
    root = manifest_path.parent
    clips, issues = [], []
    for record in Manifest(manifest_path).records():
        wav = root / record.wav_path
        if not wav.is_file():
            issues.append(SourceIssue(record.wav_path, "in the manifest but the wav is missing"))
            continue
        clips.append(clip_source(record, root, dataset))
    return clips, issues


def label_files(folder: Path) -> dict[Path, Path]:
    """{path without suffix: label file} of every ``x.txt`` / ``x.lab`` under ``folder`` (the
    ``.txt`` wins when a clip has both)."""
    found: dict[Path, Path] = {}
    for suffix in reversed(LABEL_SUFFIXES):
        found |= {p.with_suffix(""): p for p in sorted(folder.rglob(f"*{suffix}")) if not p.name.startswith(".")}
    return found


def clip_source(record: AudioRecord, root: Path, dataset: str) -> ClipSource:
    """One of our clips (a manifest record under dataset dir ``root``) as a clip to validate."""
    return ClipSource(
        record.file_hash,
        dataset,
        str((root / record.wav_path).resolve()),
        record.wav_path,
        record.text,
        voice_recipe=record.voice_recipe,
        g2p_flags=tuple(record.g2p_flags),
        word_times=tuple(record.word_times) if record.word_times is not None else None,
        word_phonemes=tuple(record.word_phonemes) or None,
    )


def from_folder(folder: Path, dataset: str) -> tuple[list[ClipSource], list[SourceIssue]]:
    clips, issues = [], []
    wavs = {p.with_suffix(""): p for p in sorted(folder.rglob("*.wav")) if not p.name.startswith(".")}
    txts = label_files(folder)
    for stem in sorted(set(txts) - set(wavs)):
        issues.append(SourceIssue(str(txts[stem].relative_to(folder)), "label without a .wav"))
    for stem, wav in wavs.items():
        rel = str(wav.relative_to(folder))
        text, problem = (None, None) if stem not in txts else read_label(txts[stem])  # no .txt: unlabeled
        clips.append(ClipSource(sha256_file(wav), dataset, str(wav.resolve()), rel, text, problem))
    return clips, issues


def from_hf_dataset(
    path: Path, dataset: str, cache_dir: Path, audio_column: str = "audio", text_column: str = "text"
) -> tuple[list[ClipSource], list[SourceIssue]]:
    """Rows of a ``datasets`` dataset, their audio written once as wav under ``cache_dir``."""
    import io

    import numpy as np
    import soundfile as sf
    from datasets import Audio, load_from_disk

    data = load_from_disk(str(path))
    if hasattr(data, "keys") and not hasattr(data, "column_names"):  # a DatasetDict: take every split
        raise ValueError(f"{path} is a DatasetDict; pass one split's directory")
    for column in (audio_column, text_column):
        if column not in data.column_names:
            raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(data.column_names)})")
    data = data.cast_column(audio_column, Audio(decode=False))
    out_dir = Path(cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips, issues = [], []
    for index, row in enumerate(data):
        audio = row[audio_column] or {}
        payload = audio.get("bytes")
        if payload is None and audio.get("path") and Path(audio["path"]).is_file():
            payload = Path(audio["path"]).read_bytes()
        if not payload:
            issues.append(SourceIssue(f"row {index}", "no audio"))
            continue
        try:
            samples, rate = sf.read(io.BytesIO(payload), dtype="float32", always_2d=True)
        except Exception as exc:
            issues.append(SourceIssue(f"row {index}", f"undecodable audio: {exc}"))
            continue
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(samples, -1, 1), rate, subtype="PCM_16", format="WAV")
        wav_bytes = buffer.getvalue()
        digest = hashlib.sha256(wav_bytes).hexdigest()
        wav = out_dir / f"{digest}.wav"
        if not wav.exists():
            wav.write_bytes(wav_bytes)
        text = row[text_column]
        text = " ".join(str(text).split()) if text is not None else None
        clips.append(
            ClipSource(
                digest,
                dataset,
                str(wav.resolve()),
                f"{path.name}#{index}",
                text or None,
                None if text else "empty label",
            )
        )
    return clips, issues


def discover(
    source: Path,
    dataset: str,
    cache_dir: Path,
    *,
    audio_column: str = "audio",
    text_column: str = "text",
) -> tuple[list[ClipSource], list[SourceIssue]]:
    """Dispatch on what ``source`` is; see the module docstring."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or directory")
    if source.is_file() and source.suffix == ".jsonl":
        clips, issues = from_manifest(source, dataset)
    elif (source / MANIFEST_NAME).is_file():
        clips, issues = from_manifest(source / MANIFEST_NAME, dataset)
    elif (source / "dataset_info.json").is_file() or (source / "state.json").is_file():
        clips, issues = from_hf_dataset(source, dataset, cache_dir, audio_column, text_column)
    elif source.is_dir():
        clips, issues = from_folder(source, dataset)
    else:
        raise ValueError(f"{source}: expected a dataset dir, a manifest.jsonl, a wav+txt folder or an HF dataset")
    # The same audio twice (copies) is one row: keep the first.
    unique: dict[str, ClipSource] = {}
    for clip in clips:
        if clip.file_hash in unique:
            issues.append(SourceIssue(clip.path, f"same audio as {unique[clip.file_hash].path}; validated once"))
        else:
            unique[clip.file_hash] = clip
    return list(unique.values()), issues
