"""Tiny random-weight stand-ins for the production recognizers, built offline in a few seconds.

* ``tiny_parakeet``: a NeMo ``EncDecHybridRNNTCTCBPEModel`` (FastConformer, d_model 64, 2
  layers, TDT head with durations 0-4 plus an auxiliary CTC head, a 48-token SentencePiece BPE
  trained here) saved with ``save_to`` as a ``.nemo`` file: the same class and file format as
  ``nvidia/parakeet-tdt_ctc-1.1b``.
* ``tiny_qwen_asr`` / ``tiny_qwen_aligner``: ``qwen_asr``'s ``Qwen3ASRForConditionalGeneration``
  (one audio-encoder layer, one text layer, a 400-token byte-level BPE with Qwen's special
  tokens and a chat template) saved with ``save_pretrained``, loadable by
  ``Qwen3ASRModel.from_pretrained`` and ``Qwen3ForcedAligner.from_pretrained``.

Random weights hear nothing, so each model is nudged to always say *something* (the tests
need words to check the word-level code): Parakeet's blank logits get a large negative bias
(and TDT's "advance one frame" duration a positive one), and Qwen's output head is wired so
that every step picks " hello" or " world". Example::

    nemo_path = tiny_parakeet(tmp_path)           # tmp_path / "tiny-parakeet.nemo"
    asr_dir = tiny_qwen_asr(tmp_path)             # a transformers model directory
"""

from __future__ import annotations

import json
from pathlib import Path

TRAINING_TEXT = [
    "hello world this is a test",
    "the quick brown fox jumps over the lazy dog",
    "alice was beginning to get very tired of sitting by her sister on the bank",
    "and of having nothing to do once or twice she had peeped into the book",
    "language english",
]
TDT_DURATIONS = [0, 1, 2, 3, 4]
NEVER = 30.0  # logit bias that makes a choice (never / always) certain over random logits


def tiny_parakeet(directory: Path, seed: int = 0) -> Path:
    """Build, bias and save the tiny hybrid TDT/CTC model; returns the ``.nemo`` path."""
    import sentencepiece as spm
    import torch
    from nemo.collections.asr.models import EncDecHybridRNNTCTCBPEModel
    from omegaconf import OmegaConf

    directory = Path(directory)
    tokenizer_dir = directory / "tokenizer"
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(TRAINING_TEXT * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tokenizer_dir / "tokenizer"),
        vocab_size=48,
        model_type="bpe",
        character_coverage=1.0,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    pieces = spm.SentencePieceProcessor(model_file=str(tokenizer_dir / "tokenizer.model"))
    # NeMo's vocab.txt convention: word-initial pieces without "▁", the rest with "##".
    vocab = [pieces.id_to_piece(i) for i in range(pieces.get_piece_size())]
    (tokenizer_dir / "vocab.txt").write_text(
        "".join((p[1:] if p.startswith("▁") else "##" + p) + "\n" for p in vocab), encoding="utf-8"
    )

    d_model = 64
    cfg = OmegaConf.create(
        {
            "sample_rate": 16000,
            "model_defaults": {
                "enc_hidden": d_model,
                "pred_hidden": d_model,
                "joint_hidden": d_model,
                "tdt_durations": TDT_DURATIONS,
                "num_tdt_durations": len(TDT_DURATIONS),
            },
            "tokenizer": {"dir": str(tokenizer_dir), "type": "bpe"},
            # transcribe() fails without a validation_ds key (NeMo 3.0).
            "validation_ds": {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 2, "shuffle": False},
            "preprocessor": {
                "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                "sample_rate": 16000,
                "normalize": "per_feature",
                "window_size": 0.025,
                "window_stride": 0.01,
                "window": "hann",
                "features": 80,
                "n_fft": 512,
                "dither": 1e-5,
                "pad_to": 0,
            },
            "encoder": {
                "_target_": "nemo.collections.asr.modules.ConformerEncoder",
                "feat_in": 80,
                "feat_out": -1,
                "n_layers": 2,
                "d_model": d_model,
                "subsampling": "dw_striding",
                "subsampling_factor": 8,
                "subsampling_conv_channels": 32,
                "ff_expansion_factor": 2,
                "self_attention_model": "rel_pos",
                "n_heads": 2,
                "att_context_size": [-1, -1],
                "conv_kernel_size": 9,
                "dropout": 0.0,
                "dropout_pre_encoder": 0.0,
                "dropout_emb": 0.0,
                "dropout_att": 0.0,
            },
            "decoder": {
                "_target_": "nemo.collections.asr.modules.RNNTDecoder",
                "blank_as_pad": True,
                "prednet": {"pred_hidden": d_model, "pred_rnn_layers": 1, "dropout": 0.0},
            },
            "joint": {
                "_target_": "nemo.collections.asr.modules.RNNTJoint",
                "log_softmax": None,
                "fuse_loss_wer": False,
                "jointnet": {"joint_hidden": d_model, "activation": "relu", "dropout": 0.0},
                "num_extra_outputs": len(TDT_DURATIONS),
            },
            "decoding": {
                "strategy": "greedy_batch",
                "model_type": "tdt",
                "durations": TDT_DURATIONS,
                "greedy": {"max_symbols": 10},
            },
            "aux_ctc": {
                "ctc_loss_weight": 0.3,
                "use_cer": False,
                "ctc_reduction": "mean_batch",
                "decoder": {
                    "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                    "feat_in": None,
                    "num_classes": -1,
                    "vocabulary": [],
                },
                "decoding": {"strategy": "greedy_batch"},
            },
            "loss": {"loss_name": "tdt", "tdt_kwargs": {"durations": TDT_DURATIONS, "sigma": 0.02, "omega": 0.1}},
        }
    )
    torch.manual_seed(seed)
    model = EncDecHybridRNNTCTCBPEModel(cfg=cfg)
    blank = model.tokenizer.vocab_size  # logits: tokens, blank, then one per TDT duration
    with torch.no_grad():
        joint_out = model.joint.joint_net[-1]
        joint_out.bias[blank] -= NEVER
        joint_out.bias[blank + 1 + TDT_DURATIONS.index(1)] += NEVER
        model.ctc_decoder.decoder_layers[0].bias[blank] -= NEVER
    path = directory / "tiny-parakeet.nemo"
    model.save_to(str(path))
    return path


QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
    "<asr_text>",
    "<timestamp>",
]
QWEN_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'audio' %}{{ '<|audio_start|><|audio_pad|><|audio_end|>' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SAID_WORDS = ("Ġhello", "Ġworld")  # what the tiny Qwen model always says


def _qwen_processor():
    from qwen_asr.core.transformers_backend import Qwen3ASRProcessor
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast, WhisperFeatureExtractor

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=QWEN_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([" " + line for line in TRAINING_TEXT] * 10, trainer)
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=bpe,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "audio_token": "<|audio_pad|>",
            "audio_bos_token": "<|audio_start|>",
            "audio_eos_token": "<|audio_end|>",
        },
    )
    # 128 mel bins, like the real model's feature extractor.
    return Qwen3ASRProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def _qwen_config(tokenizer, aligner: bool):
    from qwen_asr.core.transformers_backend import Qwen3ASRConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    thinker = {
        "audio_config": {
            "num_mel_bins": 128,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "d_model": 32,
            "output_dim": 32,
            "downsample_hidden_size": 8,
            "max_source_positions": 1500,
            "n_window": 50,
            "n_window_infer": 400,
            "conv_chunksize": 500,
        },
        "text_config": {
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 4096,
            # The rotary code reads mrope_section (it sums to head_dim / 2).
            "rope_scaling": {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True},
        },
        "audio_token_id": ids["<|audio_pad|>"],
        "audio_start_token_id": ids["<|audio_start|>"],
    }
    extra = {}
    if aligner:
        thinker |= {"model_type": "qwen3_forced_aligner", "classify_num": 64}
        extra = {"timestamp_token_id": ids["<timestamp>"], "timestamp_segment_time": 80.0}
    return Qwen3ASRConfig(thinker_config=thinker, support_languages=["English"], **extra)


def _save_qwen(directory: Path, aligner: bool, seed: int) -> Path:
    import torch
    from qwen_asr.core.transformers_backend import Qwen3ASRForConditionalGeneration

    processor = _qwen_processor()
    tokenizer = processor.tokenizer
    torch.manual_seed(seed)
    model = Qwen3ASRForConditionalGeneration(_qwen_config(tokenizer, aligner)).eval()
    if not aligner:
        # Logits = lm_head(norm(h)). Keep only hidden unit 0 and give it +1 towards " hello" and
        # -1 towards " world": every step one of them scores above all other tokens (which score 0).
        hello, world = tokenizer.convert_tokens_to_ids(list(SAID_WORDS))
        assert None not in (hello, world), "the tiny BPE has no whole-word token for hello/world"
        with torch.no_grad():
            model.thinker.model.norm.weight.zero_()
            model.thinker.model.norm.weight[0] = 1.0
            model.thinker.lm_head.weight.zero_()
            model.thinker.lm_head.weight[hello, 0] = 1.0
            model.thinker.lm_head.weight[world, 0] = -1.0
    directory.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(str(directory))
    model.save_pretrained(str(directory))
    if aligner:
        # save_pretrained writes the thinker's class model_type; the aligner head needs its own back.
        config_path = directory / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["thinker_config"]["model_type"] = "qwen3_forced_aligner"
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def tiny_qwen_asr(directory: Path, seed: int = 0) -> Path:
    """A tiny Qwen3-ASR model directory that always transcribes " hello"/" world" tokens."""
    return _save_qwen(Path(directory) / "tiny-qwen3-asr", aligner=False, seed=seed)


def tiny_qwen_aligner(directory: Path, seed: int = 0) -> Path:
    """A tiny Qwen3-ForcedAligner model directory (random timestamps)."""
    return _save_qwen(Path(directory) / "tiny-qwen3-aligner", aligner=True, seed=seed)
