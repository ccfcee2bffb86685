"""pipeline.files: the one sha256-of-a-file and the one atomic write."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.files import atomic_path, sha256_file, write_bytes_atomic, write_text_atomic


def test_sha256_file_reads_in_blocks(tmp_path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB block
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == sha256_file(str(path)) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_size=7) == hashlib.sha256(data).hexdigest()


def test_atomic_writes_replace_and_create_folders(tmp_path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    write_text_atomic(target, "first\n")
    write_text_atomic(target, "zweite Zeile – ü\n", fsync=True)
    assert target.read_text(encoding="utf-8") == "zweite Zeile – ü\n"
    write_bytes_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="bad checksum"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half written")
            assert tmp.parent == target.parent and tmp.name.startswith(".model.bin.")
            raise ValueError("bad checksum")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]
