-- One row per dataset, side by side: size, recognizer WER, TTS failures per 1000 words, escalation, MOS, signal.
SELECT
    dataset,
    count(*)                                                             AS files,
    round((sum(duration_s) / 3600.0)::numeric, 3)                        AS hours,
    round(avg(duration_s)::numeric, 2)                                   AS mean_duration_s,
    count(DISTINCT voice)                                                AS voices,
    string_agg(DISTINCT primary_engine, ', ')                            AS primary_engines,
    round(avg(primary_wer)::numeric, 4)                                  AS mean_primary_wer,
    round(avg(secondary_wer)::numeric, 4)                                AS mean_secondary_wer,
    round(avg(adjusted_wer)::numeric, 4)                                 AS mean_adjusted_wer,
    round(1000.0 * sum(n_tts_failure) / NULLIF(sum(n_words), 0), 2)      AS tts_failures_per_1k_words,
    round(count(*) FILTER (WHERE escalated)::numeric / NULLIF(count(escalated), 0), 4) AS escalation_rate,
    round(count(*) FILTER (WHERE tier = 'strict')::numeric / NULLIF(count(tier), 0), 4) AS strict_rate,
    round(count(*) FILTER (WHERE keep)::numeric / NULLIF(count(keep), 0), 4) AS keep_rate,
    round((COALESCE(sum(duration_s) FILTER (WHERE keep), 0) / 3600.0)::numeric, 3) AS kept_hours,
    round(avg(composite_mos)::numeric, 3)                                AS composite_mos,
    round(avg(mos_utmosv2)::numeric, 3)                                  AS utmosv2,
    round(avg(rms_db)::numeric, 2)                                       AS mean_rms_db,
    round(avg(silence_pct)::numeric, 2)                                  AS mean_silence_pct,
    count(*) FILTER (WHERE clipping_pct > 0)                             AS clipped_files
FROM audio_quality
GROUP BY dataset
ORDER BY dataset;
