-- Why clips are not kept: clips and hours per reject reason and dataset (a clip with several
-- reasons counts under each; "(kept)" = no reason).
SELECT
    dataset,
    COALESCE(reason, '(kept)')                                      AS reason,
    count(*)                                                        AS files,
    round((COALESCE(sum(duration_s), 0) / 3600.0)::numeric, 3)      AS hours
FROM audio_quality
LEFT JOIN LATERAL unnest(reject_reasons) AS reason ON true
WHERE reject_reasons IS NOT NULL
GROUP BY dataset, reason
ORDER BY dataset, reason IS NULL, count(*) DESC, reason;
