-- Files and hours per threshold tier and dataset, with the cumulative hours at that tier or better.
SELECT
    dataset,
    COALESCE(tier, '(not validated)')                                    AS tier,
    count(*)                                                             AS files,
    round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY dataset), 1) AS pct_files,
    round((COALESCE(sum(duration_s), 0) / 3600.0)::numeric, 3)           AS hours,
    round((sum(COALESCE(sum(duration_s), 0)) OVER (
        PARTITION BY dataset
        ORDER BY COALESCE(array_position(ARRAY['strict', 'balanced', 'permissive', 'reject'], tier), 5)
    ) / 3600.0)::numeric, 3)                                             AS cumulative_hours,
    count(*) FILTER (WHERE keep)                                         AS kept,
    round((COALESCE(sum(duration_s) FILTER (WHERE keep), 0) / 3600.0)::numeric, 3) AS kept_hours
FROM audio_quality
GROUP BY dataset, tier
ORDER BY dataset, COALESCE(array_position(ARRAY['strict', 'balanced', 'permissive', 'reject'], tier), 5);
