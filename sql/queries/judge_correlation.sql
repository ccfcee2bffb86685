-- Pearson correlation per dataset between MOS judges, between MOS and WER, and between the two recognizers' WER.
SELECT
    q.dataset,
    p.metric_a,
    p.metric_b,
    regr_count(p.b, p.a)                                                 AS n,
    round(corr(p.b, p.a)::numeric, 3)                                    AS pearson_r
FROM audio_quality q
CROSS JOIN LATERAL (
    VALUES
        ('dnsmos_ovrl', q.mos_dnsmos_ovrl::float8, 'distillmos', q.mos_distillmos::float8),
        ('dnsmos_ovrl', q.mos_dnsmos_ovrl::float8, 'utmosv2', q.mos_utmosv2::float8),
        ('dnsmos_ovrl', q.mos_dnsmos_ovrl::float8, 'scoreq_synthetic', q.mos_scoreq_synthetic::float8),
        ('dnsmos_ovrl', q.mos_dnsmos_ovrl::float8, 'nisqa', q.mos_nisqa::float8),
        ('distillmos', q.mos_distillmos::float8, 'utmosv2', q.mos_utmosv2::float8),
        ('distillmos', q.mos_distillmos::float8, 'scoreq_synthetic', q.mos_scoreq_synthetic::float8),
        ('distillmos', q.mos_distillmos::float8, 'nisqa', q.mos_nisqa::float8),
        ('utmosv2', q.mos_utmosv2::float8, 'scoreq_synthetic', q.mos_scoreq_synthetic::float8),
        ('utmosv2', q.mos_utmosv2::float8, 'nisqa', q.mos_nisqa::float8),
        ('scoreq_synthetic', q.mos_scoreq_synthetic::float8, 'nisqa', q.mos_nisqa::float8),
        ('composite_mos', q.composite_mos::float8, 'primary_wer', q.primary_wer::float8),
        ('composite_mos', q.composite_mos::float8, 'adjusted_wer', q.adjusted_wer::float8),
        ('primary_wer', q.primary_wer::float8, 'secondary_wer', q.secondary_wer::float8)
) AS p (metric_a, a, metric_b, b)
GROUP BY q.dataset, p.metric_a, p.metric_b
HAVING regr_count(p.b, p.a) >= 3 AND corr(p.b, p.a) IS NOT NULL
ORDER BY q.dataset, p.metric_a, p.metric_b;
