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


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path) -> None:
    """A writer killed inside ``atomic_path`` leaves its temporary file; the sweep removes it and
    leaves a live writer's temporary, the finished files and other hidden files alone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pipeline.files import remove_stale_temporaries, temporary_sibling

    wavs = tmp_path / "book" / "af_heart"
    writer = (
        "import sys, time\nfrom pipeline.files import atomic_path\n"
        f"with atomic_path({str(wavs / 'chunk_00001.wav')!r}) as tmp:\n"
        "    tmp.write_bytes(b'RIFF half')\n    print('writing', flush=True)\n    time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = [p for p in wavs.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1, "the kill left the half-written file"
    live = temporary_sibling(wavs / "chunk_00002.wav")  # this process is alive
    live.write_bytes(b"in progress")
    (wavs / "chunk_00003.wav").write_bytes(b"done")
    (wavs / ".notes.tmp").write_text("not ours")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in wavs.iterdir()) == sorted([live.name, "chunk_00003.wav", ".notes.tmp"])
    old = time.time() - 7200
    os.utime(live, (old, old))  # a temporary nobody finished in two hours is stale too
    assert remove_stale_temporaries(tmp_path) == 1 and not live.exists()
