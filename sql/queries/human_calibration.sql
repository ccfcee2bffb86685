-- MOS judges against people: per dataset and judge, n clips both scored (mean human MOS per clip), Pearson and Spearman.
WITH human AS (
    SELECT file_hash, dataset, avg(mos)::float8 AS mos
    FROM human_ratings
    GROUP BY file_hash, dataset
),
pairs AS (
    -- every judge score of the dataset; mos is NULL where no person rated the clip (n counts the rated ones)
    SELECT q.dataset, p.judge, p.score, h.mos
    FROM audio_quality q
    LEFT JOIN human h USING (file_hash, dataset)
    CROSS JOIN LATERAL (
        VALUES
            ('dnsmos_ovrl', q.mos_dnsmos_ovrl::float8),
            ('distillmos', q.mos_distillmos::float8),
            ('utmosv2', q.mos_utmosv2::float8),
            ('scoreq_synthetic', q.mos_scoreq_synthetic::float8),
            ('nisqa', q.mos_nisqa::float8),
            ('composite_mos', q.composite_mos::float8)
    ) AS p (judge, score)
    WHERE p.score IS NOT NULL
),
ranked AS (
    -- average ranks among the rated clips (ties share the mean of their positions), as Spearman's rho defines them
    SELECT dataset, judge, score, mos,
           CASE WHEN mos IS NOT NULL THEN
               (rank() OVER (PARTITION BY dataset, judge, mos IS NULL ORDER BY score)
                + (count(*) OVER (PARTITION BY dataset, judge, mos IS NULL, score) - 1) / 2.0)::float8
           END AS score_rank,
           CASE WHEN mos IS NOT NULL THEN
               (rank() OVER (PARTITION BY dataset, judge, mos IS NULL ORDER BY mos)
                + (count(*) OVER (PARTITION BY dataset, judge, mos IS NULL, mos) - 1) / 2.0)::float8
           END AS mos_rank
    FROM pairs
)
SELECT
    dataset,
    judge,
    count(mos)                                                        AS n,
    round(corr(mos, score)::numeric, 3)                               AS pearson_r,
    round(corr(mos_rank, score_rank)::numeric, 3)                     AS spearman_rho,
    round((avg(score) FILTER (WHERE mos IS NOT NULL))::numeric, 3)    AS mean_judge,
    round(avg(mos)::numeric, 3)                                       AS mean_human
FROM ranked
GROUP BY dataset, judge
ORDER BY dataset, judge;
