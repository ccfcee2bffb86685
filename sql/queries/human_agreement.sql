-- The machine's keep against people's decisions (latest per clip): per dataset, counts and the machine's precision and recall.
SELECT
    d.dataset,
    count(q.file_hash)                                                     AS reviewed,
    count(*) FILTER (WHERE q.keep AND q.human_decision = 'approve')        AS both_keep,
    count(*) FILTER (WHERE q.keep AND q.human_decision = 'reject')         AS machine_kept_human_rejected,
    count(*) FILTER (WHERE NOT q.keep AND q.human_decision = 'approve')    AS machine_rejected_human_approved,
    count(*) FILTER (WHERE NOT q.keep AND q.human_decision = 'reject')     AS both_reject,
    round((count(*) FILTER (WHERE q.keep AND q.human_decision = 'approve'))::numeric
          / NULLIF(count(*) FILTER (WHERE q.keep), 0), 3)                  AS precision,
    round((count(*) FILTER (WHERE q.keep AND q.human_decision = 'approve'))::numeric
          / NULLIF(count(*) FILTER (WHERE q.human_decision = 'approve'), 0), 3) AS recall,
    round((count(*) FILTER (WHERE q.keep = (q.human_decision = 'approve')))::numeric
          / NULLIF(count(q.file_hash), 0), 3)                              AS agreement
FROM (SELECT DISTINCT dataset FROM audio_quality) d
LEFT JOIN audio_quality q
       ON q.dataset = d.dataset AND q.human_decision IS NOT NULL AND q.keep IS NOT NULL
GROUP BY d.dataset
ORDER BY d.dataset;
