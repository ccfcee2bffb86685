-- Per dataset: files, validated, kept, keep rate, mean primary and adjusted WER, hours in and kept.
SELECT
    dataset,
    count(*)                                                             AS files,
    count(n_words)                                                       AS validated,
    count(*) FILTER (WHERE keep)                                         AS kept,
    round(count(*) FILTER (WHERE keep)::numeric / NULLIF(count(keep), 0), 4) AS keep_rate,
    round(avg(primary_wer)::numeric, 4)                                  AS mean_primary_wer,
    round(avg(adjusted_wer)::numeric, 4)                                 AS mean_adjusted_wer,
    count(*) FILTER (WHERE n_tts_failure > 0)                            AS files_with_tts_failure,
    count(validate_error)                                                AS errors,
    round((sum(duration_s) / 3600.0)::numeric, 3)                        AS hours,
    round((COALESCE(sum(duration_s) FILTER (WHERE keep), 0) / 3600.0)::numeric, 3) AS kept_hours
FROM audio_quality
GROUP BY dataset
ORDER BY dataset;
