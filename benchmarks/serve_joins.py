"""The pause at a stream's first-segment join against the same sentence synthesized whole, and the
silence before the speech, from a running ``pipeline serve`` (word times from ``timestamps``).

The stream cuts its first segment after ``FIRST_SEGMENT_MAX_WORDS`` words (6); the pause is the
quiet time (10 ms frames 40 dB below the clip's loudest) from the start of the last word before
the cut to the end of the first word after it, in the streamed audio and in the whole-file audio.

    python benchmarks/serve_joins.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import base64
import io
import json

import httpx
import numpy as np
import soundfile as sf

from pipeline.serve.segments import silence_between, speech_bounds, split_segments
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--first-words", type=int, default=6, help="the server's FIRST_SEGMENT_MAX_WORDS")
    args = parser.parse_args()
    print("| sentence | cut after | whole pause s | streamed pause s | difference s | lead s (streamed) |")
    print("|---|---|---|---|---|---|")
    for text in SENTENCES:
        cut = len(split_segments(text, args.first_words, ".,?!;:")[0].split())
        audio_w, words_w = whole(args.url, text, args.voice)
        audio_s, words_s = streamed(args.url, text, args.voice)
        pause_w, pause_s = join_pause(audio_w, words_w, cut), join_pause(audio_s, words_s, cut)
        lead = (speech_bounds(audio_s) or (0, 0))[0] / SAMPLE_RATE
        word = words_s[cut - 1]["word"]
        print(f"| {text} | {word} | {pause_w:.2f} | {pause_s:.2f} | {pause_s - pause_w:+.2f} | {lead:.2f} |")


if __name__ == "__main__":
    main()
