"""faster-whisper (CTranslate2) as an ASR judge: word timestamps and per-word probability.

The embedded default pair is Whisper base (primary) and tiny.en (secondary), both from PyPI
(see ``pipeline/assets.py``); any CTranslate2 Whisper model dir works. Example::

    judge = WhisperJudge(model_dir, name="whisper"); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].words[0]   # Word(text, start, end, confidence)

Clips are transcribed one at a time with greedy decoding and no conditioning on previous text:
Whisper's language model otherwise "repairs" TTS mistakes, which would hide real failures.
numpy's BLAS (faster-whisper's mel features are a matrix product) runs on one thread while a clip
is judged: on some CPUs (AVX-512 AMD) OpenBLAS rounds differently with more threads, and greedy
decoding turns last-bit differences into other words ("Chapter 1." vs "Chapter 1,"), so a clip
would be heard differently in a Ray actor (one thread) than in a local process.

Whisper's decoder writes a repeated short word once ("where it it had been" as "where it had
been"): its language model outweighs one extra syllable. So each clip is also read with the decoder
forced (``_ForcedReader.repeats``): at the few places where the label's next word is least
probable, the label is scored against the label with the word, or it and the word before, said twice; the
log-likelihood ratios are kept as ``Transcript.repeats`` and the verdicts count a ratio above
``Thresholds.repeat_min_llr`` (-2.5: the recognizer finds hearing the words twice nearly as likely)
like extra words it heard (``verdicts.repeats``; ``check_repeats=False``: never).

A multilingual model (Whisper base, not tiny.en) also listens again to each run of the label in
another language ("“Où est ma chatte?”" in an English book, ``verdicts.languages``): the
stretch of audio between the English words around the run, decoded in the run's language, is
kept as ``Transcript.listens`` for the verdicts (``listen_languages=False``: never).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judges.audio import AudioError, load_audio
from judges.base import ASRJudge, AudioItem, Transcript
from judges.packages import package_version
from verdicts.languages import foreign_runs, run_stretches, stretch_times
from verdicts.normalize import same_words
from verdicts.records import ForcedRepeat, Hypothesis, LanguageListen, Word

log = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16_000
# The label is forced in the typography Whisper writes (ASCII apostrophes and quotes): a curly
# apostrophe is a rare token that lowers the probability of the letters after it ("Dinah’ll").
_ASCII_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"'})
MULTILINGUAL_VOCABULARY = 51_865  # tokens of a multilingual Whisper (English-only models: 51,864)
LISTEN_PAD_S = 0.15  # audio kept either side of the stretch a run of another language lies in
LISTEN_BEAM = 5  # a second listen is a second or two of audio: beam search costs little there
LISTENS = f"language-runs-v1-beam{LISTEN_BEAM}"  # in the decoding fingerprint: what a second listen is
# Places of the label tested for a repetition: those where the forced label's next word is least
# probable (a repeated word makes the word after it unexpected). Each gets two readings: the word
# said twice, and the word with the one before it said twice. ``Settings.repeat_places`` (0: all).
REPEAT_PLACES = 3
# Said before the forced readings (Whisper's previous-text prompt): disfluent speech written
# verbatim, so that the decoder's prior does not rule a repetition out before the audio is heard.
# The same prompt precedes the label and the doubled readings, so it cancels where they agree.
REPEAT_PROMPT = "Um, I I mean, the the thing is, we we went to to the store, and and, uh, it was was closed."


def repeats_fingerprint(places: int) -> str:
    """What the repeat check is, in the decoding fingerprint (0 places: every place)."""
    return f"forced-repeats-v1-places{places or 'all'}"


class WhisperJudge(ASRJudge):
    sample_rate = WHISPER_SAMPLE_RATE

    def __init__(
        self,
        model: str | Path,
        *,
        name: str = "whisper",
        label: str | None = None,
        device: str = "auto",
        compute_type: str = "int8",
        threads: int = 0,
        beam_size: int = 1,
        batch_size: int = 1,
        listen_languages: bool = True,
        check_repeats: bool = True,
        repeat_places: int = REPEAT_PLACES,
    ) -> None:
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.model = str(model)
        self.label = label or Path(self.model).name
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.listen_languages = listen_languages
        self.check_repeats = check_repeats
        self.repeat_places = repeat_places
        self._tokenizer_for_labels: Any = None
        self._multilingual: bool | None = None

    @property
    def model_name(self) -> str:
        return self.label

    @property
    def version(self) -> str:
        return package_version("faster-whisper")

    @property
    def listens(self) -> bool:
        """Whether this judge listens again to runs of another language: asked for, and the model
        is multilingual (its vocabulary, read without loading it)."""
        if not self.listen_languages:
            return False
        if self._multilingual is None:
            try:
                with (Path(self.model) / "vocabulary.txt").open(encoding="utf-8") as vocabulary:
                    self._multilingual = sum(1 for _ in vocabulary) >= MULTILINGUAL_VOCABULARY
            except OSError:
                self._multilingual = False
        return self._multilingual

    def _load(self) -> tuple[Any, str]:
        from faster_whisper import WhisperModel

        if not Path(self.model).is_dir():
            raise RuntimeError(f"Whisper model dir {self.model} not found (run `pipeline assets`)")
        device, compute_type = self._device_and_compute()
        whisper = WhisperModel(self.model, device=device, compute_type=compute_type, cpu_threads=self.threads)
        log.info("loaded Whisper %s on %s (%s)", Path(self.model).name, device, compute_type)
        return whisper, device

    def _device_and_compute(self) -> tuple[str, str]:
        device = self.device
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        return device, self.compute_type if device == "cpu" else "float16"

    @property
    def decoding(self) -> dict[str, Any]:
        """Greedy, English, no conditioning, no VAD (``_transcribe``); the compute type the
        device gets."""
        return {
            "compute_type": self._device_and_compute()[1],
            "beam_size": self.beam_size,
            "language": "en",
            "temperature": 0.0,
            "condition_on_previous_text": False,
            "vad_filter": False,
            **({"listens": LISTENS} if self.listens else {}),
            **({"repeats": repeats_fingerprint(self.repeat_places)} if self.check_repeats else {}),
            "label_scoring": "forced-align-v2",  # label_probs where the transcript differs from the label
        }

    def _judge(self, items: Sequence[AudioItem]) -> list[Transcript]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return [self._transcribe(item) for item in items]

    def _transcribe(self, item: AudioItem) -> Transcript:
        started = time.perf_counter()
        try:
            audio = load_audio(item.audio_path, WHISPER_SAMPLE_RATE)
        except AudioError as exc:
            return self.error_result(item, str(exc))
        tap = _EncoderTap(self._model)
        try:
            with tap:
                segments, _ = self._model.transcribe(
                    audio,
                    language="en",
                    beam_size=self.beam_size,
                    word_timestamps=True,
                    condition_on_previous_text=False,
                    vad_filter=False,
                    temperature=0.0,
                )
                words: list[Word] = []
                texts: list[str] = []
                for segment in segments:  # a generator: the decoding (and encoding) happens here
                    texts.append(segment.text.strip())
                    for w in segment.words or ():
                        words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        except Exception as exc:  # a decoder failure on one file must not end the run
            log.exception("whisper failed on %s", item.audio_path)
            return self.error_result(item, f"{type(exc).__name__}: {exc}")
        text = " ".join(t for t in texts if t)
        label_probs = None
        repeats = None
        listens: tuple[LanguageListen, ...] = ()
        misheard = bool(item.text) and not same_words(item.text, text)  # only then is more to learn
        if item.text and (misheard or self.check_repeats):
            try:
                label_probs, repeats = self._forced_readings(audio, item.text, misheard, tap.only_window)
            except Exception:  # the transcript stands without them
                log.exception("whisper could not read the label of %s forced", item.audio_path)
        if misheard and self.listens:
            try:
                listens = self._listen_in_languages(audio, item.text, Hypothesis(self.name, text, tuple(words)))
            except Exception:  # the transcript stands without them
                log.exception("whisper could not listen again to %s", item.audio_path)
        ms = (time.perf_counter() - started) * 1000
        return Transcript(
            item.key,
            self.name,
            self.model_name,
            text,
            tuple(words),
            ms,
            label_probs=label_probs,
            listens=listens,
            repeats=repeats,
        )

    def _listen_in_languages(self, audio: Any, label: str, heard: Hypothesis) -> tuple[LanguageListen, ...]:
        """Each run of the label in another language, decoded again in that language from the
        stretch of audio between the English words the first pass heard around it."""
        out = []
        for first, last, language in run_stretches(foreign_runs(label.split())):
            start, end = stretch_times(label, heard, first, last)
            a = int(max(0.0, (start or 0.0) - LISTEN_PAD_S) * WHISPER_SAMPLE_RATE)
            b = len(audio) if end is None else int((end + LISTEN_PAD_S) * WHISPER_SAMPLE_RATE)
            segments, _ = self._model.transcribe(
                audio[a:b],
                language=language,
                beam_size=LISTEN_BEAM,
                condition_on_previous_text=False,
                vad_filter=False,
                temperature=0.0,
            )
            out.append(LanguageListen(language, first, last, " ".join(s.text.strip() for s in segments).strip()))
        return tuple(out)

    def _forced_readings(
        self, audio: Any, label: str, misheard: bool, encoder_output: Any = None
    ) -> tuple[tuple[float | None, ...] | None, tuple[ForcedRepeat, ...] | None]:
        """The label's word probabilities (only where the engine heard something else: nothing
        else reads them) and the doubled readings' ratios (when checked), from one encoder pass
        (the transcription's own, when given); (None, None) for a clip longer than one 30 s window."""
        forced = _ForcedReader.of(self._model, self._label_tokenizer, audio, encoder_output)
        if forced is None:
            return None, None
        label_probs = forced.word_probs(label) if misheard else None
        return label_probs, forced.repeats(label, self.repeat_places or None) if self.check_repeats else None

    def _label_tokenizer(self) -> Any:
        """The model's BPE tokenizer for encoding a label. Decoding never needs the merge list,
        encoding does: the embedded Whisper base's ``tokenizer.json`` lacks GPT-2's first merge
        ("Ġ t"), so " the" would encode as two tokens the model never saw (forced probabilities
        near 0); a missing first merge is put back."""
        if self._tokenizer_for_labels is None:
            import tokenizers

            spec = json.loads((Path(self.model) / "tokenizer.json").read_text(encoding="utf-8"))
            bpe = spec["model"]
            merges = bpe.get("merges", [])
            first = "Ġ t" if not merges or isinstance(merges[0], str) else ["Ġ", "t"]
            if "Ġt" in bpe.get("vocab", {}) and first not in merges:
                bpe["merges"] = [first, *merges]
                log.info("label tokenizer: GPT-2's first merge restored for %s", self.label)
            self._tokenizer_for_labels = tokenizers.Tokenizer.from_str(json.dumps(spec))
        return self._tokenizer_for_labels


def _has_letters(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


class _EncoderTap:
    """Keeps what faster-whisper's encoder returns while a transcription runs (its ``transcribe``
    does not hand it back), so forced readings of a one-window clip need no second encoder pass.
    Wraps the model's ``encode`` for the duration of a ``with`` block; ``only_window`` is the
    encoder output when exactly one window was encoded, else None (then the forced readings
    encode the clip themselves: nothing is assumed about the library beyond ``encode``)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._outputs: list[Any] = []

    def __enter__(self) -> _EncoderTap:
        encode = self._model.encode

        def recording(features: Any) -> Any:
            output = encode(features)
            self._outputs.append(output)
            return output

        self._model.encode = recording  # shadows the method on this instance only
        return self

    def __exit__(self, *exc: object) -> None:
        del self._model.encode

    @property
    def only_window(self) -> Any:
        return self._outputs[0] if len(self._outputs) == 1 else None


class _ForcedReader:
    """One clip's audio through the encoder once, then its decoder forced to read given texts
    (teacher forcing through CTranslate2's ``align``, the call and measure that give a heard word
    its confidence). The encoder output is the transcription's own where ``_EncoderTap`` caught
    it, else the clip is encoded here. Texts are read in ASCII typography, as Whisper writes."""

    def __init__(self, model: Any, tokenizer: Any, encoder_output: Any, num_frames: int) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._encoder_output = encoder_output
        self._num_frames = num_frames

    @classmethod
    def of(cls, model: Any, label_tokenizer: Any, audio: Any, encoder_output: Any = None) -> _ForcedReader | None:
        """None for a clip longer than one 30 s window. ``encoder_output``: the clip's window
        already through the encoder (else it is encoded here)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        extractor = model.feature_extractor
        if len(audio) > extractor.n_samples:
            return None
        # the mel frames the audio fills (the extractor's frame count minus its padding frame)
        num_frames = min(extractor.nb_max_frames, len(audio) // extractor.hop_length)
        if encoder_output is None:
            encoder_output = model.encode(pad_or_trim(extractor(audio)[:, :num_frames]))
        tokenizer = Tokenizer(label_tokenizer(), model.model.is_multilingual, task="transcribe", language="en")
        return cls(model, tokenizer, encoder_output, num_frames)

    def _word_tokens(self, words: Sequence[str]) -> list[list[int]]:
        # GPT-2 BPE splits text before each space, so a text's tokens are its words' tokens in a row.
        return [self._tokenizer.encode(" " + w) for w in words]

    def _token_probs(self, tokens: list[int], prompt: list[int] | None = None) -> list[float]:
        start = [*(prompt or ()), *self._tokenizer.sot_sequence]
        result = self._model.model.align(self._encoder_output, start, [tokens], self._num_frames)[0]
        return list(result.text_token_probs)

    def word_probs(self, label: str) -> tuple[float | None, ...] | None:
        """Per whitespace-separated label word, the mean probability of its tokens when the
        decoder is forced to read the label; a word without letters or digits gets None."""
        per_word = self._word_tokens(label.translate(_ASCII_TYPOGRAPHY).split())
        tokens = [t for ws in per_word for t in ws]
        if not tokens:
            return None
        probs = self._token_probs(tokens)
        out: list[float | None] = []
        at = 0
        for word_tokens in per_word:
            spoken = [probs[at + i] for i, t in enumerate(word_tokens) if _has_letters(self._tokenizer.decode([t]))]
            out.append(round(sum(spoken) / len(spoken), 4) if spoken else None)
            at += len(word_tokens)
        return tuple(out)

    def _label_after_prompt(self, label: str) -> _PromptedLabel | None:
        words = label.translate(_ASCII_TYPOGRAPHY).split()
        per_word = self._word_tokens(words)
        if len(words) < 2 or not all(per_word):
            return None
        prompt = [self._tokenizer.sot_prev, *self._tokenizer.encode(" " + REPEAT_PROMPT)]
        probs = self._token_probs([t for ws in per_word for t in ws], prompt)
        firsts = list(itertools.accumulate((len(ws) for ws in per_word), initial=0))
        order = sorted((k for k in range(len(words) - 1) if _has_letters(words[k])), key=lambda k: probs[firsts[k + 1]])
        return _PromptedLabel(words, per_word, prompt, _log_likelihood(probs), order)

    def repeat_order(self, label: str) -> list[int]:
        """The places a repetition is looked for, most suspect first: label words (indices)
        with letters, by the forced label's probability of the next word's first token."""
        prompted = self._label_after_prompt(label)
        return prompted.order if prompted else []

    def repeats(self, label: str, places: int | None = REPEAT_PLACES) -> tuple[ForcedRepeat, ...]:
        """The label against doubled readings of it, after ``REPEAT_PROMPT``: at the first
        ``places`` places of ``repeat_order`` (None: every place), the word said twice and the
        word with the one before it said twice. Each reading's log-likelihood ratio to the label
        (sum of token log probabilities; the readings share the tokens before the repeat)."""
        prompted = self._label_after_prompt(label)
        if prompted is None:
            return ()
        words, per_word = prompted.words, prompted.per_word
        out = []
        for last in sorted(prompted.order[:places]):
            for first in (last, last - 1):
                if first < 0 or not _has_letters(words[first]):
                    continue
                doubled = per_word[: last + 1] + per_word[first : last + 1] + per_word[last + 1 :]
                score = _log_likelihood(self._token_probs([t for ws in doubled for t in ws], prompted.prompt))
                out.append(ForcedRepeat(first, last, round(score - prompted.score, 3)))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class _PromptedLabel:
    """A label read forced after ``REPEAT_PROMPT``: its words, their tokens, the prompt's tokens,
    the label's log-likelihood and the places to test for a repetition, most suspect first."""

    words: list[str]
    per_word: list[list[int]]
    prompt: list[int]
    score: float
    order: list[int]


def _log_likelihood(probs: Sequence[float]) -> float:
    return sum(math.log(max(p, 1e-12)) for p in probs)
