"""All settings in one place: environment variables (``PIPELINE_*`` plus a few well-known
names such as ``DATABASE_URL`` and ``KOKORO_DEVICE``), overridden by CLI flags.

Example::

    PIPELINE_WORK_DIR=/data/tts pipeline generate --book alice.txt
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.choices import (
    SPEED_MAX,
    SPEED_MIN,
    ASREngine,
    Headings,
    MosMode,
    RunnerKind,
    TTSBackendName,
)
from verdicts import Thresholds


def _env(name: str) -> AliasChoices:
    """A setting read from ``NAME`` (its established name) or ``PIPELINE_NAME``."""
    return AliasChoices(name, f"PIPELINE_{name}")


_THRESHOLDS = Thresholds()  # the verdict rules' defaults, the one place they are defined
# Kokoro-82M at speed 1.0 speaks ~17 phoneme characters per second (measured on Alice, chapter 1).
PHONEMES_PER_SECOND = 17.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_", extra="ignore", validate_assignment=True, populate_by_name=True
    )

    # --- locations -------------------------------------------------------------------------
    work_dir: Path = Field(Path("work"), description="Generated datasets, manifests, embedded DB.")
    cache_dir: Path = Field(Path(".cache/pipeline"), description="Assembled model assets (git-ignored).")

    # --- TTS ------------------------------------------------------------------------------
    tts_backend: TTSBackendName = TTSBackendName.onnx
    kokoro_device: str = Field("auto", validation_alias=AliasChoices("KOKORO_DEVICE", "PIPELINE_KOKORO_DEVICE"))
    kokoro_onnx_path: Path | None = Field(None, description="Override the assembled int8 ONNX model.")
    kokoro_torch_model: str = Field(
        "embedded",
        description=(
            "Torch weights: 'embedded' (the checkpoint `pipeline assets` rebuilds from the int8 ONNX, "
            "offline), a local .pth path, or a hub repo id (needs internet on first use)."
        ),
    )
    lang_code: Literal["a", "b"] = Field("a", description="misaki English: a = US, b = British.")
    g2p_by_voice: bool = Field(
        True,
        description="Phonemize each English voice in its own accent (b* voices British, a* American); off:"
        " every voice reads lang_code's phonemes.",
    )
    voices: list[str] = Field(default_factory=lambda: ["af_heart"])
    speed: float = Field(1.0, ge=SPEED_MIN, le=SPEED_MAX)
    seed: int = 0
    voice_blends_file: Path | None = Field(None, description="Named blends JSON (default <work>/voices.json).")

    # --- chunking -------------------------------------------------------------------------
    target_seconds: float = Field(22.0, gt=1.0, description="Aim for chunks of about this much speech.")
    target_words: int | None = Field(None, description="Chunk by word count instead of seconds.")
    max_phonemes: int = Field(500, ge=32, le=510, description="Hard cap, below Kokoro's 510 limit.")
    phonemes_per_second: float = Field(
        PHONEMES_PER_SECOND,
        gt=1.0,
        description="Speech-rate estimate at speed 1.0 (measured on Kokoro), to size chunks.",
    )
    headings: Headings = Headings.own
    keep_caps: bool = Field(
        False, description="G2P audit: leave ALL-CAPS dictionary words that misaki spells letter by letter as they are."
    )
    g2p_second_opinion: bool = Field(
        True, description="G2P audit: check heteronyms against espeak-ng's and against misaki's with another tagger."
    )
    foreign_g2p: bool = Field(
        True,
        description="G2P audit: feed words of a run in another language (French, Spanish, German, Italian, "
        "Portuguese) espeak-ng's reading in that language instead of misaki's English one.",
    )

    # --- execution ------------------------------------------------------------------------
    workers: int = Field(0, ge=0, description="Synthesis worker processes; 0 = one per CPU core.")
    threads_per_worker: int = Field(1, ge=1, validation_alias=_env("THREADS_PER_WORKER"))
    batch_size: int = Field(2, ge=1, description="Chunks handed to a worker at a time.")
    synthesis_batch: int = Field(
        1,
        ge=1,
        le=64,
        description="Torch backend: chunks per padded forward pass (batched Kokoro, grouped by length); "
        "1 = one at a time. The ONNX backend always runs one at a time.",
    )
    runner: RunnerKind = Field(RunnerKind.local, description="local (this machine) | ray (Ray Data actors)")
    ray_address: str | None = Field(
        None,
        validation_alias=AliasChoices("RAY_ADDRESS", "PIPELINE_RAY_ADDRESS"),
        description="Ray cluster to join (unset: start a local one sized to this machine).",
    )
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs each Ray actor declares (0 = CPU only).")

    # --- validate -------------------------------------------------------------------------
    asr_primary: ASREngine = Field(ASREngine.auto, description="auto: Parakeet when installed, else Whisper base")
    asr_secondary: ASREngine = Field(ASREngine.auto, description="auto: Qwen3-ASR when installed, else tiny.en")
    parakeet_model: str = "nvidia/parakeet-tdt_ctc-1.1b"
    parakeet_decoder: Literal["tdt", "ctc"] = "tdt"
    qwen_model: str = "Qwen/Qwen3-ASR-1.7B"
    qwen_aligner: str | None = None
    whisper_model: Path | None = Field(None, description="CTranslate2 dir for `whisper` (default: embedded base)")
    asr_device: str = "auto"
    asr_threads: int = Field(0, ge=0, description="CPU threads per ASR engine (0 = library default)")
    check_repeats: bool = Field(
        True, description="Whisper engines also score doubled readings of the label (repeated words written once)"
    )
    repeat_places: int = Field(
        3,
        ge=0,
        description="Places of each label a Whisper engine tests for a repeated word, most suspect first"
        " (0 = every place; each place is two forced reads)",
    )
    escalate_wer: float = Field(_THRESHOLDS.escalate_wer, ge=0, description="Cascade: escalate when primary WER > this")
    escalate_confidence: float = Field(
        _THRESHOLDS.escalate_confidence,
        ge=0,
        le=1,
        description="... or its mean calibrated word confidence below this (or it heard unexplained extra words)",
    )
    # Tiers of kept clips (a clip that is not kept is always `reject`): adjusted WER below <tier>_wer
    # and the primary engine's mean calibrated confidence at least <tier>_confidence.
    strict_wer: float = Field(_THRESHOLDS.strict_wer, ge=0)
    strict_confidence: float = Field(_THRESHOLDS.strict_confidence, ge=0, le=1)
    balanced_wer: float = Field(_THRESHOLDS.balanced_wer, ge=0)
    balanced_confidence: float = Field(_THRESHOLDS.balanced_confidence, ge=0, le=1)
    permissive_wer: float = Field(_THRESHOLDS.permissive_wer, ge=0)
    permissive_confidence: float = Field(_THRESHOLDS.permissive_confidence, ge=0, le=1)
    keep_min_mos: float | None = Field(None, description="keep also needs composite MOS >= this (when judged)")
    label_plausible_min: float | None = Field(
        _THRESHOLDS.label_plausible_min,
        ge=0,
        le=1,
        description="A word an engine heard as another is its mistake when the engine, forced to read the label,"
        " gives the label word at least this probability (unset: rule off)",
    )
    repeat_min_llr: float = Field(
        _THRESHOLDS.repeat_min_llr,
        description="A repeated word counts when an engine, forced to choose, prefers the doubled reading by more"
        " than this log-likelihood ratio (nats; 0 = the likelier reading; negative is stricter)",
    )
    mos_judges: list[str] = Field(default_factory=lambda: ["dnsmos", "distillmos", "utmosv2", "scoreq", "nisqa"])
    mos_mode: MosMode = MosMode.sample
    mos_sample_rate: float = Field(0.1, ge=0, le=1)
    mos_seed: int = 0
    mos_device: str = "auto"
    mos_threads: int = Field(0, ge=0)
    dnsmos_personalized: bool = Field(False, description="DNSMOS judge uses pDNSMOS (penalizes interfering talkers)")
    # Production MOS judges load local weights only (none is downloaded); unset or absent = skipped, with the reason.
    utmosv2_checkpoint: Path | None = Field(None, description="UTMOSv2 .pth (e.g. fold0_s42_best_model.pth)")
    utmosv2_config: str = Field("fusion_stage3", description="utmosv2.config module the checkpoint belongs to")
    utmosv2_repetitions: int = Field(1, ge=1, description="UTMOSv2 random crops averaged per clip (seeded: mos_seed)")
    scoreq_models_dir: Path | None = Field(
        None,
        description="Folder with SCOREQ's adapt_nr_synthetic.onnx and adapt_nr_telephone.onnx (Zenodo 15739280); "
        "unset: scoreq's own cache, ~/.cache/scoreq/onnx-models",
    )
    nisqa_checkpoint: Path | None = Field(
        None,
        description="NISQA .tar (nisqa.tar: mos, noi, dis, col, loud). NISQA's weights are CC BY-NC-SA 4.0: "
        "NON-COMMERCIAL use only.",
    )

    # --- serve (env names as the service has always read them; PIPELINE_* works too) -------
    max_concurrent_jobs: int = Field(12, ge=1, validation_alias=_env("MAX_CONCURRENT_JOBS"))
    queue_maxsize: int = Field(256, ge=0, validation_alias=_env("QUEUE_MAXSIZE"), description="Waiting jobs")
    first_segment_max_words: int = Field(6, ge=1, validation_alias=_env("FIRST_SEGMENT_MAX_WORDS"))
    first_segment_boundaries: str = Field(".,?!;:", validation_alias=_env("FIRST_SEGMENT_BOUNDARIES"))
    stream_chunk_seconds: float = Field(0.1, ge=0.01, validation_alias=_env("STREAM_CHUNK_SECONDS"))
    max_input_chars: int = Field(20000, ge=1, validation_alias=_env("MAX_INPUT_CHARS"))
    api_key: str | None = Field(None, validation_alias=_env("API_KEY"), description="Bearer key (unset: open)")
    prime_stream: bool = Field(
        False, validation_alias=_env("PRIME_STREAM"), description="Send PRIME_BYTES of silence first"
    )
    prime_bytes: int = Field(512, ge=0, validation_alias=_env("PRIME_BYTES"), description="Rounded to whole samples")
    voice_cache_mb: float = Field(
        64.0, ge=0, validation_alias=_env("VOICE_CACHE_MB"), description="Blend packs kept (LRU); built-ins always"
    )
    kokoro_gpu_memory_fraction: float | None = Field(
        None, gt=0, le=1, validation_alias=_env("KOKORO_GPU_MEMORY_FRACTION"), description="Torch backend GPU cap"
    )
    # The validator API (/api/validate, /api/validate/folder, /api/mos) on the same app.
    validate_root: Path | None = Field(
        None,
        validation_alias=_env("VALIDATE_ROOT"),
        description="Files and folders the validator API may read by path (unset: uploads only)",
    )
    max_validate_seconds: float = Field(
        600.0, gt=0, validation_alias=_env("MAX_VALIDATE_SECONDS"), description="Longest clip the API validates"
    )
    max_validate_bytes: int = Field(
        50 * 2**20, ge=1024, validation_alias=_env("MAX_VALIDATE_BYTES"), description="Largest audio upload"
    )
    engine_workers: int = Field(
        0,
        ge=0,
        validation_alias=_env("ENGINE_WORKERS"),
        description="Serve: engine worker processes; 0 = fill the CPU cores (cores // THREADS_PER_WORKER), one per GPU",
    )
    max_batch: int = Field(
        8, ge=1, le=64, validation_alias=_env("MAX_BATCH"), description="Serve, torch backend: pieces per forward pass"
    )
    batch_wait_ms: float = Field(
        10.0,
        ge=0,
        validation_alias=_env("BATCH_WAIT_MS"),
        description="Serve, torch backend: how long a worker waits for more pieces to batch",
    )
    leading_silence_ms: int = Field(
        50, ge=0, validation_alias=_env("LEADING_SILENCE_MS"), description="Serve: silence kept before the speech"
    )
    openai_voices_file: Path | None = Field(
        None,
        validation_alias=_env("OPENAI_VOICES_FILE"),
        description="Serve: JSON {openai_name: kokoro_voice} (default: pipeline/serve/openai_voices.json)",
    )

    @field_validator("prime_bytes")
    @classmethod
    def _whole_samples(cls, value: int) -> int:
        return value // 2 * 2  # PCM16: two bytes a sample

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: str | None) -> str | None:
        return value or None

    # --- clip checks (pipeline.clip_checks): each failed check is a reason the clip is not kept --
    speaker_check: bool = Field(True, description="Score speaker similarity to the voice's reference (our clips).")
    speaker_min_similarity: float = Field(0.75, ge=-1, le=1, description="speaker_drift below this cosine")
    max_internal_silence_s: float = Field(2.0, gt=0, description="long_silence: a pause above this")
    max_leading_silence_s: float = Field(1.0, gt=0, description="leading_silence above this")
    max_trailing_silence_s: float = Field(1.5, gt=0, description="trailing_silence above this")
    max_clipping_pct: float = Field(0.1, ge=0, description="clipping: more than this % of samples at full scale")
    timing_tolerance_s: float = Field(1.0, gt=0, description="timing_mismatch: word heard this far off")
    truncation_tolerance_s: float = Field(0.8, gt=0, description="truncated: speech ends this long before predicted")

    # --- store ----------------------------------------------------------------------------
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL", "PIPELINE_DATABASE_URL"))

    @property
    def thresholds(self) -> Thresholds:
        """The verdict rules' thresholds: the settings fields of the same names."""
        return Thresholds(**{f.name: getattr(self, f.name) for f in fields(Thresholds)})

    @property
    def datasets_dir(self) -> Path:
        return self.work_dir / "datasets"

    @property
    def blends_path(self) -> Path:
        return self.voice_blends_file or self.work_dir / "voices.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
