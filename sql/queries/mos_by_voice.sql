-- Per dataset and voice: files, MOS per judge and composite (mean, spread), adjusted WER, keep rate.
SELECT
    dataset,
    COALESCE(voice, '(none)')                                            AS voice,
    count(*)                                                             AS files,
    count(composite_mos)                                                 AS scored,
    round(avg(composite_mos)::numeric, 3)                                AS composite_mos,
    round(stddev_samp(composite_mos)::numeric, 3)                        AS composite_sd,
    round(avg(mos_utmosv2)::numeric, 3)                                  AS utmosv2,
    round(avg(mos_distillmos)::numeric, 3)                               AS distillmos,
    round(avg(mos_dnsmos_ovrl)::numeric, 3)                              AS dnsmos_ovrl,
    round(avg(mos_scoreq_synthetic)::numeric, 3)                         AS scoreq_synthetic,
    round(avg(mos_nisqa)::numeric, 3)                                    AS nisqa,
    round(avg(adjusted_wer)::numeric, 4)                                 AS mean_adjusted_wer,
    round(count(*) FILTER (WHERE keep)::numeric / NULLIF(count(keep), 0), 4) AS keep_rate
FROM audio_quality
GROUP BY dataset, COALESCE(voice, '(none)')
ORDER BY dataset, avg(composite_mos) DESC NULLS LAST, voice;
