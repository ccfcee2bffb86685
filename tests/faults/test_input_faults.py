"""Bad input gets a clear error that names what is wrong, and writes nothing outside the work
dir: hand-edited manifests, unsafe dataset names; and the phonemizer does not flood the log."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.manifest import Manifest, ManifestError


def test_manifest_line_with_missing_or_unknown_fields_names_the_line(tmp_path) -> None:
    from pipeline.records import AudioRecord

    good = {f: None for f in AudioRecord.__dataclass_fields__}
    good |= {"wav_path": "a.wav", "id": "x", "dataset": "d", "text": "Hi."}
    missing = {k: v for k, v in good.items() if k != "text"} | {"wav_path": "b.wav"}
    unknown = good | {"wav_path": "c.wav", "colour": "red"}
    path = tmp_path / "manifest.jsonl"
    for name, row in (("missing", missing), ("unknown", unknown)):
        path.write_text(json.dumps(good) + "\n\n" + json.dumps(row) + "\n")
        with pytest.raises(ManifestError, match=rf"manifest.jsonl:3: .*{name} field\(s\) (text|colour)"):
            Manifest(path).records()


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "x..y", ""])
def test_unsafe_dataset_names_are_refused_before_anything_is_written(tmp_path, name) -> None:
    for command in (
        ["generate", "--book", "data/books/alice.txt", "--no-db", "--dataset", name],
        ["validate", str(tmp_path), "--no-db", "--dataset", name],
    ):
        result = CliRunner().invoke(app, [*command, "--work-dir", str(tmp_path / "work")])
        assert result.exit_code == 2, result.output
        assert "not a safe name" in result.output
    assert not (tmp_path / "work").exists() and not (tmp_path.parent / "x").exists()


def test_phonemizer_word_count_warnings_do_not_flood_the_log(g2p, alice_book, caplog) -> None:
    """Chunking chapter 1 runs the espeak fallback word by word; phonemizer used to warn
    "words count mismatch" for several of those words (and more again in every worker)."""
    from pipeline.chunking import chunk_book

    with caplog.at_level(logging.WARNING):
        chunks = chunk_book(
            alice_book,
            g2p,
            target_seconds=12,
            target_words=None,
            max_phonemes=510,
            phonemes_per_second=15,
            headings="own",
            chapters={1},
        )
    assert chunks
    assert not [r for r in caplog.records if "words count mismatch" in r.getMessage()]
