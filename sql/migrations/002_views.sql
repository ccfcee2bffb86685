-- 002: read-only views for queries, reports and notebooks. Views only: nothing here stores data,
-- so a later migration may DROP and recreate them when audio_quality grows new columns.

-- One row per clip with the columns people look at first, plus a few derived ones.
CREATE OR REPLACE VIEW clip_summary AS
SELECT
    file_hash,
    dataset,
    path,
    text,
    book,
    chapter_index,
    chunk_index,
    kind,
    voice,
    voice_recipe,
    speed,
    tts_engine,
    duration_s,
    duration_s / 3600.0                                              AS hours,
    n_words,
    n_words IS NOT NULL                                              AS validated,
    validate_error,
    primary_engine,
    primary_wer,
    primary_conf_mean,
    secondary_engine,
    secondary_wer,
    adjusted_wer,
    escalated,
    tier,
    keep,
    n_tts_failure,
    n_ambiguous,
    n_unverified,
    COALESCE(n_tts_failure, 0) + COALESCE(n_ambiguous, 0)
        + COALESCE(n_unverified, 0)                                  AS n_review,
    n_insertions,
    composite_mos,
    mos_judges,
    mos_dnsmos_ovrl,
    mos_distillmos,
    mos_utmosv2,
    mos_scoreq_synthetic,
    mos_nisqa,
    rms_db,
    peak_amplitude,
    clipping_pct,
    silence_pct,
    updated_at
FROM audio_quality;

-- Word rows that did not pass cleanly and are not explained by a rule: what a human should hear.
CREATE OR REPLACE VIEW word_failures AS
SELECT
    w.dataset,
    w.file_hash,
    q.path,
    q.voice,
    w.word_index,
    w.label_word,
    w.norm_word,
    w.primary_word,
    w.secondary_word,
    w.verdict,
    w.rule,
    w.start_s,
    w.end_s,
    w.confidence
FROM audio_words w
JOIN audio_quality q USING (file_hash, dataset)
WHERE w.verdict IN ('tts_failure', 'ambiguous', 'unverified');
