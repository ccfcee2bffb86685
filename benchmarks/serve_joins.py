"""The pause at a stream's first-segment join against the same sentence synthesized whole, and the
silence before the speech, from a running ``pipeline serve`` (word times from ``timestamps``).

The stream cuts its first segment after ``FIRST_SEGMENT_MAX_WORDS`` words (6); the pause is the
quiet time (10 ms frames 40 dB below the clip's loudest) from the start of the last word before
the cut to the end of the first word after it, in the streamed audio and in the whole-file audio.

    python benchmarks/serve_joins.py --url http://127.0.0.1:8000
    python benchmarks/serve_joins.py --book data/books/alice.txt --sample 60 [--seed 0]

With ``--book``, the fixed sentences are replaced by a seeded sample of the book's sentences (8-30
words, not the fixed ones) whose first segment ends at a punctuation mark, and the table is
followed by a fit per mark: the pause to keep there (the ``PAUSES_S`` constant) that puts the most
joins within 0.1 s of the whole sentence (ties: the smallest mean error). The streamed pause is
the kept constant plus quiet frames at the speech edges, which do not depend on the constant, so
one streamed run per sentence is enough to score every candidate constant.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import re
import statistics
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from pipeline.ingest import read_book
from pipeline.serve.segments import PAUSES_S, pause_after, silence_between, speech_bounds, split_segments
from pipeline.tts.backend import SAMPLE_RATE

SENTENCES = (
    "How brave they'll all think me at home!",  # the cut falls mid-phrase
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Down, down, down, would the fall never come to an end?",  # at a comma
    "Either the well was very deep, or she fell very slowly.",
    "She ate a little bit, and said anxiously to herself, which way?",
    "Oh dear! I shall be late, said the White Rabbit to itself.",  # at a sentence end
)


def whole(url: str, text: str, voice: str) -> tuple[np.ndarray, list[dict]]:
    body = {"input": text, "voice": voice, "timestamps": True}
    reply = httpx.post(f"{url}/v1/audio/speech", json=body, timeout=300).json()
    audio, _ = sf.read(io.BytesIO(base64.b64decode(reply["audio"])), dtype="float32")
    return audio, reply["words"]


def streamed(url: str, text: str, voice: str) -> tuple[np.ndarray, list[dict]]:
    pcm, words = b"", []
    body = {"input": text, "voice": voice, "timestamps": True}
    with httpx.stream("POST", f"{url}/v1/audio/speech/stream", json=body, timeout=300) as response:
        for line in response.iter_lines():
            event = json.loads(line)
            if event["type"] == "audio":
                pcm += base64.b64decode(event["audio"])
            elif event["type"] == "words":
                words += event["words"]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768, words


def join_pause(audio: np.ndarray, words: list[dict], cut: int) -> float:
    return silence_between(audio, words[cut - 1]["start_s"], words[cut]["end_s"])


BOUNDARIES = ".,?!;:"
TOLERANCE_S = 0.1
_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")


def book_sentences(path: Path, n: int, seed: int, first_words: int) -> list[str]:
    """A seeded sample of ``n`` sentences of the book (8-30 words) whose first segment ends at a
    punctuation mark, none of them one of the fixed ``SENTENCES``."""
    book = read_book(path)
    found = []
    for chapter in book.chapters:
        for paragraph in chapter.paragraphs:
            for sentence in _SENTENCE.split(paragraph):
                words = sentence.split()
                first = split_segments(sentence, first_words, BOUNDARIES)[0]
                cut_at_mark = first.rstrip("\"'”’)")[-1:] in BOUNDARIES
                if 8 <= len(words) <= 30 and len(first.split()) < len(words) and cut_at_mark:
                    found.append(" ".join(words))
    found = sorted(set(found) - set(SENTENCES))
    return random.Random(seed).sample(found, min(n, len(found)))


def fit(rows: list[tuple[str, float, float]]) -> None:
    """Per mark: the constant that puts the most joins within ``TOLERANCE_S`` of the whole pause.
    ``rows``: (mark, whole pause, streamed pause - the constant it was streamed with)."""
    by_mark: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for mark, whole_s, edges_s in rows:
        by_mark[mark].append((whole_s, edges_s))
    print("\n| mark | joins | whole pause p10 / median / p90 s | now s | within 0.1 s now | best s | within 0.1 s |")
    print("|---|---|---|---|---|---|---|")
    for mark, pairs in sorted(by_mark.items()):

        def score(c: float, pairs: list[tuple[float, float]] = pairs) -> tuple[int, float]:
            errors = [abs(c + edges - whole) for whole, edges in pairs]
            return sum(e <= TOLERANCE_S + 1e-9 for e in errors), -statistics.fmean(errors)

        best = max((round(0.05 + 0.01 * i, 2) for i in range(46)), key=score)
        wholes = sorted(w for w, _ in pairs)
        q = statistics.quantiles(wholes, n=10) if len(wholes) > 1 else wholes * 9
        now = PAUSES_S.get(mark, 0.0)
        print(
            f"| `{mark}` | {len(pairs)} | {q[0]:.2f} / {statistics.median(wholes):.2f} / {q[-1]:.2f} | {now:.2f}"
            f" | {score(now)[0]}/{len(pairs)} | {best:.2f} | {score(best)[0]}/{len(pairs)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--first-words", type=int, default=6, help="the server's FIRST_SEGMENT_MAX_WORDS")
    parser.add_argument("--book", type=Path, help="sample the book's sentences instead of the fixed six")
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    texts = book_sentences(args.book, args.sample, args.seed, args.first_words) if args.book else SENTENCES
    rows = []
    print("| sentence | cut after | whole pause s | streamed pause s | difference s | lead s (streamed) |")
    print("|---|---|---|---|---|---|")
    for text in texts:
        first = split_segments(text, args.first_words, BOUNDARIES)[0]
        cut = len(first.split())
        audio_w, words_w = whole(args.url, text, args.voice)
        audio_s, words_s = streamed(args.url, text, args.voice)
        if len(words_w) != len(text.split()) or len(words_s) != len(words_w):
            print(f"| {text} | (word times do not line up with the words: skipped) | | | | |")
            continue
        pause_w, pause_s = join_pause(audio_w, words_w, cut), join_pause(audio_s, words_s, cut)
        lead = (speech_bounds(audio_s) or (0, 0))[0] / SAMPLE_RATE
        word = words_s[cut - 1]["word"]
        print(
            f"| {text} | {word} | {pause_w:.2f} | {pause_s:.2f} | {pause_s - pause_w:+.2f} | {lead:.2f} |", flush=True
        )
        mark = first.rstrip("\"'”’)")[-1:]
        if mark in BOUNDARIES:
            rows.append((mark, pause_w, pause_s - pause_after(first)))
    if args.book:
        fit(rows)


if __name__ == "__main__":
    main()
