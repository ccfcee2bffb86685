"""faster-whisper (CTranslate2) as an ASR judge: word timestamps and per-word probability.

The embedded default pair is Whisper base (primary) and tiny.en (secondary), both from PyPI
(see ``pipeline/assets.py``); any CTranslate2 Whisper model dir works. Example::

    judge = WhisperJudge(model_dir, name="whisper"); judge.setup()
    judge.judge_batch([AudioItem("k", "clip.wav")])[0].words[0]   # Word(text, start, end, confidence)

Clips are transcribed one at a time with greedy decoding and no conditioning on previous text:
Whisper's language model otherwise "repairs" TTS mistakes, which would hide real failures.

A multilingual model (Whisper base, not tiny.en) also listens again to each run of the label in
another language ("“Où est ma chatte?”" in an English book, ``verdicts.languages``): the
stretch of audio between the English words around the run, decoded in the run's language, is
kept as ``Transcript.listens`` for the verdicts (``listen_languages=False``: never).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judges.audio import AudioError, load_audio
from judges.base import ASRJudge, AudioItem, Transcript
from judges.packages import package_version
from verdicts.languages import foreign_runs, run_stretches, stretch_times
from verdicts.normalize import same_words
from verdicts.records import Hypothesis, LanguageListen, Word

log = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16_000
# The label is forced in the typography Whisper writes (ASCII apostrophes and quotes): a curly
# apostrophe is a rare token that lowers the probability of the letters after it ("Dinah’ll").
_ASCII_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"'})
MULTILINGUAL_VOCABULARY = 51_865  # tokens of a multilingual Whisper (English-only models: 51,864)
LISTEN_PAD_S = 0.15  # audio kept either side of the stretch a run of another language lies in
LISTEN_BEAM = 5  # a second listen is a second or two of audio: beam search costs little there
LISTENS = f"language-runs-v1-beam{LISTEN_BEAM}"  # in the decoding fingerprint: what a second listen is


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
    ) -> None:
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.model = str(model)
        self.label = label or Path(self.model).name
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.listen_languages = listen_languages
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
            "label_scoring": "forced-align-v2",  # label_probs where the transcript differs from the label
        }

    def _judge(self, items: Sequence[AudioItem]) -> list[Transcript]:
        return [self._transcribe(item) for item in items]

    def _transcribe(self, item: AudioItem) -> Transcript:
        started = time.perf_counter()
        try:
            audio = load_audio(item.audio_path, WHISPER_SAMPLE_RATE)
        except AudioError as exc:
            return self.error_result(item, str(exc))
        try:
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
            for segment in segments:
                texts.append(segment.text.strip())
                for w in segment.words or ():
                    words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        except Exception as exc:  # a decoder failure on one file must not end the run
            log.exception("whisper failed on %s", item.audio_path)
            return self.error_result(item, f"{type(exc).__name__}: {exc}")
        text = " ".join(t for t in texts if t)
        label_probs = None
        listens: tuple[LanguageListen, ...] = ()
        misheard = bool(item.text) and not same_words(item.text, text)  # only then is more to learn
        if misheard:
            try:
                label_probs = self._label_probs(audio, item.text)
            except Exception:  # the transcript stands without them
                log.exception("whisper could not score the label of %s", item.audio_path)
        if misheard and self.listens:
            try:
                listens = self._listen_in_languages(audio, item.text, Hypothesis(self.name, text, tuple(words)))
            except Exception:  # the transcript stands without them
                log.exception("whisper could not listen again to %s", item.audio_path)
        ms = (time.perf_counter() - started) * 1000
        return Transcript(
            item.key, self.name, self.model_name, text, tuple(words), ms, label_probs=label_probs, listens=listens
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

    def _label_probs(self, audio: Any, label: str) -> tuple[float | None, ...] | None:
        """Per whitespace-separated label word, the mean probability of its tokens when the
        decoder is forced to read the label in ASCII typography (teacher forcing through
        CTranslate2's ``align``, the call and measure that give a heard word its confidence); a
        word without letters or digits gets None. None for a clip longer than one 30 s window.
        The encoder runs again here: faster-whisper's ``transcribe`` does not hand its output back."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        extractor = model.feature_extractor
        if len(audio) > extractor.n_samples:
            return None
        features = extractor(audio)
        num_frames = min(extractor.nb_max_frames, features.shape[-1] - 1)
        encoder_output = model.encode(pad_or_trim(features[:, :num_frames]))
        tokenizer = Tokenizer(self._label_tokenizer(), model.model.is_multilingual, task="transcribe", language="en")
        words = label.translate(_ASCII_TYPOGRAPHY).split()
        # GPT-2 BPE splits text before each space, so the label's tokens are its words' tokens in a row.
        per_word = [tokenizer.encode(" " + w) for w in words]
        tokens = [t for ws in per_word for t in ws]
        if not tokens:
            return None
        result = model.model.align(encoder_output, tokenizer.sot_sequence, [tokens], num_frames)[0]
        probs = list(result.text_token_probs)
        out: list[float | None] = []
        at = 0
        for word_tokens in per_word:
            spoken = [
                probs[at + i] for i, t in enumerate(word_tokens) if any(ch.isalnum() for ch in tokenizer.decode([t]))
            ]
            out.append(round(sum(spoken) / len(spoken), 4) if spoken else None)
            at += len(word_tokens)
        return tuple(out)
