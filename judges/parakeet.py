"""NVIDIA Parakeet TDT_CTC (NeMo) as an ASR judge: word timestamps and per-word confidence.

The production primary recognizer (``nvidia/parakeet-tdt_ctc-1.1b``). Needs the ``asr`` extra
(``nemo_toolkit[asr]``). ``model`` is a hub id (downloaded on first use, then read from the
Hugging Face cache) or a local ``.nemo`` file, which is how an offline machine gets it.
Example::

    judge = ParakeetJudge(model="/models/parakeet-tdt_ctc-1.1b.nemo", decoder="tdt")
    judge.setup()
    t = judge.judge_batch([AudioItem("k", "clip.wav")])[0]
    t.text, t.words[0]   # 'hello world', Word(text='hello', start=0.24, end=0.56, confidence=0.998)

Decoding is greedy on the TDT (transducer) head by default, or on the auxiliary CTC head with
``decoder="ctc"``. Word confidence is NeMo's own (``ConfidenceConfig``): by default each
token's ``max_prob`` confidence, (p * V - 1) / (V - 1) for the chosen token's probability p
over V classes (0 = a uniform guess, 1 = certain; about p for Parakeet's 1025 classes), and a
word takes the minimum over its tokens. It is what the cascade's escalation threshold reads.

Any NeMo ASR model with a transducer (TDT or plain RNN-T: ``decoder="tdt"``) or CTC head loads;
the class comes from the checkpoint. Only a hybrid model offers both decoders.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from judges.asr_batch import Decoded, clean_confidence, clean_span, judge_in_batches, model_fingerprint
from judges.base import ASRJudge, AudioItem, Transcript
from judges.packages import package_version
from verdicts.records import Word

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nvidia/parakeet-tdt_ctc-1.1b"
PARAKEET_SAMPLE_RATE = 16_000
DECODERS = ("tdt", "ctc")


class ParakeetJudge(ASRJudge):
    """A NeMo ASR model (``.nemo`` file or hub id), loaded once in ``setup()``.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``. ``batch_size``: clips per forward
    pass. ``threads``: torch intra-op threads, set process-wide in ``setup()`` (0 = leave as is).
    ``confidence_method``: ``max_prob`` or ``entropy`` (NeMo's names); ``confidence_aggregation``:
    how token confidences make a word's (``min``, ``mean``, ``max``, ``prod``).
    The object pickles before and after ``setup()`` (the loaded model is left out).
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: str = "auto",
        batch_size: int = 16,
        decoder: Literal["tdt", "ctc"] = "tdt",
        name: str = "parakeet",
        threads: int = 0,
        confidence_method: Literal["max_prob", "entropy"] = "max_prob",
        confidence_aggregation: Literal["min", "mean", "max", "prod"] = "min",
    ) -> None:
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}")
        if confidence_method not in ("max_prob", "entropy"):
            raise ValueError(f"confidence_method must be 'max_prob' or 'entropy', not {confidence_method!r}")
        super().__init__(name=name, device=device, threads=threads, batch_size=batch_size)
        self.model = str(model)
        self.decoder = decoder
        self.confidence_method = confidence_method
        self.confidence_aggregation = confidence_aggregation
        self.sample_rate = PARAKEET_SAMPLE_RATE  # the checkpoint's own, once loaded

    # --- interface ------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def decoding(self) -> dict[str, Any]:
        return {"decoder": self.decoder}

    @functools.cached_property
    def version(self) -> str:  # the fingerprint reads the model file: once
        path = Path(self.model)
        model_id = f"{path.name} fp:{model_fingerprint(path)}" if path.is_file() else self.model
        return f"{package_version('nemo_toolkit')}; {model_id}; decoder {self.decoder}"

    def _load(self) -> tuple[Any, str]:
        device = self._torch_device()
        _quiet_nemo()
        asr = self._restore(device)
        asr.eval()
        self._configure_decoding(asr)
        self.sample_rate = int(asr.cfg.get("sample_rate", PARAKEET_SAMPLE_RATE))
        log.info("loaded Parakeet %s on %s (decoder %s)", self.model, device, self.decoder)
        return asr, device

    def _judge(self, items: Sequence[AudioItem]) -> list[Transcript]:
        return judge_in_batches(self, items, self.sample_rate, self.batch_size, self._decode)

    # --- loading --------------------------------------------------------------------------

    def _restore(self, device: str) -> Any:
        import torch
        from nemo.collections.asr.models import ASRModel

        path = Path(self.model)
        if path.is_file():
            # The checkpoint names its own class (hybrid TDT_CTC, TDT, CTC); ASRModel resolves it.
            return ASRModel.restore_from(str(path), map_location=torch.device(device))
        if path.suffix == ".nemo" or path.is_dir() or self.model.count("/") != 1:
            raise RuntimeError(
                f"Parakeet model {self.model!r}: not a .nemo file "
                f"(give a local .nemo path or a hub id such as {DEFAULT_MODEL!r})"
            )
        try:
            return ASRModel.from_pretrained(self.model, map_location=torch.device(device))
        except Exception as exc:
            raise RuntimeError(
                f"could not load Parakeet model {self.model!r} from the Hugging Face hub ({type(exc).__name__}: "
                f"{exc}). Offline, download it once elsewhere "
                f"(https://huggingface.co/{self.model}/resolve/main/{self.model.split('/')[1]}.nemo) "
                "and set the model to that local .nemo path (PIPELINE_PARAKEET_MODEL=/path/model.nemo), "
                "or pre-fill the Hugging Face cache"
            ) from exc

    def _configure_decoding(self, asr: Any) -> None:
        """Greedy decoding on the chosen head, with word timestamps and word confidence."""
        from nemo.collections.asr.parts.utils.asr_confidence_utils import (
            ConfidenceConfig,
            ConfidenceMethodConfig,
        )
        from omegaconf import OmegaConf, open_dict

        has_transducer = hasattr(asr, "joint")
        has_ctc = hasattr(asr, "ctc_decoder") or not has_transducer
        hybrid = has_transducer and hasattr(asr, "ctc_decoder")
        if self.decoder == "tdt" and not has_transducer:
            raise RuntimeError(f"{self.model} has no TDT/transducer head; use decoder='ctc'")
        if self.decoder == "ctc" and not has_ctc:
            raise RuntimeError(f"{self.model} has no CTC head; use decoder='tdt'")
        if self.decoder == "ctc" and hybrid:
            current = asr.cfg.aux_ctc.decoding
        else:
            current = asr.cfg.decoding
        cfg = OmegaConf.create(OmegaConf.to_container(current, resolve=True))
        confidence = ConfidenceConfig(
            preserve_word_confidence=True,
            exclude_blank=True,
            aggregation=self.confidence_aggregation,
            # alpha 1: max_prob is then the plain (p*V - 1) / (V - 1); entropy keeps NeMo's defaults.
            method_cfg=ConfidenceMethodConfig(name="max_prob", alpha=1.0)
            if self.confidence_method == "max_prob"
            else ConfidenceMethodConfig(name=self.confidence_method),
        )
        with open_dict(cfg):
            cfg.confidence_cfg = OmegaConf.structured(confidence)
            cfg.compute_timestamps = True
            if cfg.get("strategy") == "greedy":  # same results, batched (NeMo's own advice)
                cfg.strategy = "greedy_batch"
        kwargs = {"decoder_type": "ctc" if self.decoder == "ctc" else "rnnt"} if hybrid else {}
        asr.change_decoding_strategy(cfg, verbose=False, **kwargs)

    # --- decoding -------------------------------------------------------------------------

    def _decode(self, audios: list[np.ndarray]) -> list[Decoded]:
        hypotheses = self._model.transcribe(
            audio=audios,
            batch_size=len(audios),
            timestamps=True,
            return_hypotheses=True,
            verbose=False,
        )
        if isinstance(hypotheses, tuple):  # (best, n-best) from some decoders
            hypotheses = hypotheses[0]
        return [hypothesis_to_decoded(h) for h in hypotheses]


def hypothesis_to_decoded(hypothesis: Any) -> Decoded:
    """A NeMo ``Hypothesis`` (with word timestamps and word confidence) -> text and words."""
    text = str(hypothesis.text or "")
    stamps = hypothesis.timestamp.get("word") if isinstance(hypothesis.timestamp, dict) else None
    confidences = list(hypothesis.word_confidence) if hypothesis.word_confidence is not None else []
    if stamps:
        tokens = [(str(s.get("word", "")), *clean_span(s.get("start"), s.get("end"))) for s in stamps]
    else:
        tokens = [(word, None, None) for word in text.split()]
    if confidences and len(confidences) != len(tokens):
        # Never pair a confidence with the wrong word.
        log.warning("Parakeet gave %d word confidences for %d words; dropping them", len(confidences), len(tokens))
        confidences = []
    words = tuple(
        Word(word, start, end, clean_confidence(confidences[i]) if confidences else None)
        for i, (word, start, end) in enumerate(tokens)
    )
    return Decoded(text, words)


def _quiet_nemo() -> None:
    """NeMo logs every transcribe call at INFO; keep its warnings, drop the chatter."""
    if log.isEnabledFor(logging.DEBUG):
        return
    try:
        from nemo.utils import logging as nemo_logging

        nemo_logging.setLevel(logging.WARNING)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
