-- 001: the three tables everything else reads. One row per (file_hash, dataset) in audio_quality;
-- each pipeline stage owns a group of columns (see pipeline/store/columns.py) and writes only those.

CREATE TABLE IF NOT EXISTS audio_quality (
    -- identity
    file_hash            text        NOT NULL,   -- sha256 of the wav bytes
    dataset              text        NOT NULL,
    clip_id              text,                   -- generate's content id (book, text, voice, speed, model, seed)
    path                 text,                   -- wav path relative to the dataset root (or absolute for foreign data)
    text                 text,                   -- label text (ground truth)
    book                 text,
    chapter_index        integer,
    chunk_index          integer,
    kind                 text,                   -- heading | text
    voice                text,
    voice_recipe         text,
    speed                real,
    seed                 bigint,
    tts_engine           text,
    tts_model            text,
    tts_version          text,
    -- generation
    gen_ms               real,
    gen_rtf              real,
    gen_device           text,
    phonemes             text,
    -- audio
    duration_s           real,
    sample_rate          integer,
    -- ASR: primary engine
    primary_engine       text,
    primary_model        text,
    primary_text         text,
    primary_wer          real,
    primary_conf_mean    real,
    primary_conf_min     real,
    primary_ms           real,
    -- ASR: secondary engine
    secondary_engine     text,
    secondary_model      text,
    secondary_text       text,
    secondary_wer        real,
    secondary_conf_mean  real,
    secondary_conf_min   real,
    secondary_ms         real,
    -- verdicts
    n_words              integer,
    n_pass               integer,
    n_stt_error          integer,
    n_secondary_error    integer,
    n_tts_failure        integer,
    n_ambiguous          integer,
    n_unverified         integer,
    n_homophone          integer,
    n_compound           integer,
    n_spelling_variant   integer,
    n_filler_word        integer,
    n_abbreviation       integer,
    n_gt_typo            integer,
    n_gt_error           integer,
    n_insertions         integer,
    adjusted_wer         real,
    escalated            boolean,
    escalation_reason    text,
    tier                 text,                   -- strict | balanced | permissive | reject
    keep                 boolean,
    validate_error       text,
    -- MOS judges
    mos_dnsmos_sig       real,
    mos_dnsmos_bak       real,
    mos_dnsmos_ovrl      real,
    mos_dnsmos_p808      real,
    mos_distillmos       real,
    mos_utmosv2          real,
    mos_scoreq_synthetic real,
    mos_scoreq_natural   real,
    mos_nisqa            real,
    mos_nisqa_noi        real,
    mos_nisqa_dis        real,
    mos_nisqa_col        real,
    mos_nisqa_loud       real,
    composite_mos        real,
    mos_judges           text[],
    mos_seed             bigint,
    mos_ms               jsonb,
    -- signal metrics
    peak_amplitude       real,
    rms_db               real,
    clipping_pct         real,
    silence_pct          real,
    energy_std           real,
    dynamic_range_db     real,
    zero_crossing_rate   real,
    spectral_centroid_hz real,
    spectral_rolloff_hz  real,
    -- bookkeeping
    versions             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    config               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    metadata             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_hash, dataset)
);

CREATE INDEX IF NOT EXISTS audio_quality_dataset_keep ON audio_quality (dataset, keep);
CREATE INDEX IF NOT EXISTS audio_quality_dataset_tier ON audio_quality (dataset, tier);
CREATE INDEX IF NOT EXISTS audio_quality_voice ON audio_quality (dataset, voice);
CREATE INDEX IF NOT EXISTS audio_quality_book_chunk ON audio_quality (book, chunk_index);
CREATE INDEX IF NOT EXISTS audio_quality_adjusted_wer ON audio_quality (adjusted_wer DESC NULLS LAST);

CREATE TABLE IF NOT EXISTS audio_words (
    file_hash        text    NOT NULL,
    dataset          text    NOT NULL,
    word_index       integer NOT NULL,           -- position in the label; insertions get -1 - n
    label_word       text,                       -- the word as the label writes it
    norm_word        text,                       -- normalized form compared with the engines
    primary_word     text,
    secondary_word   text,
    verdict          text    NOT NULL,
    rule             text,
    start_s          real,
    end_s            real,
    confidence       real,
    PRIMARY KEY (file_hash, dataset, word_index),
    FOREIGN KEY (file_hash, dataset) REFERENCES audio_quality (file_hash, dataset) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS audio_words_verdict ON audio_words (dataset, verdict);
CREATE INDEX IF NOT EXISTS audio_words_norm ON audio_words (norm_word);

CREATE TABLE IF NOT EXISTS runs (
    run_id       bigserial   PRIMARY KEY,
    command      text        NOT NULL,
    args         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    versions     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    dataset      text,
    status       text        NOT NULL DEFAULT 'running',   -- running | ok | failed
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    counts       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    audio_s      double precision,
    wall_s       double precision,
    x_real_time  double precision,
    error        text
);
