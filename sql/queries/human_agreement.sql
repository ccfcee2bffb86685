-- The machine's keep against people's decisions (latest per clip): per dataset, counts and the machine's precision and recall.
SELECT
    dataset,
    count(*)                                                              AS reviewed,
    count(*) FILTER (WHERE keep AND human_decision = 'approve')           AS both_keep,
    count(*) FILTER (WHERE keep AND human_decision = 'reject')            AS machine_kept_human_rejected,
    count(*) FILTER (WHERE NOT keep AND human_decision = 'approve')       AS machine_rejected_human_approved,
    count(*) FILTER (WHERE NOT keep AND human_decision = 'reject')        AS both_reject,
    round((count(*) FILTER (WHERE keep AND human_decision = 'approve'))::numeric
          / NULLIF(count(*) FILTER (WHERE keep), 0), 3)                   AS precision,
    round((count(*) FILTER (WHERE keep AND human_decision = 'approve'))::numeric
          / NULLIF(count(*) FILTER (WHERE human_decision = 'approve'), 0), 3) AS recall,
    round((count(*) FILTER (WHERE keep = (human_decision = 'approve')))::numeric / count(*), 3) AS agreement
FROM audio_quality
WHERE human_decision IS NOT NULL AND keep IS NOT NULL
GROUP BY dataset
ORDER BY dataset;
