-- G2P audit findings (generate: g2p_flags, fixed ones as '<rule>.fixed') and clip-check reasons (validate: clip_reasons) per dataset: how many clips and how many occurrences.
SELECT dataset, 'g2p audit' AS source, flag AS id, count(DISTINCT file_hash) AS clips, count(*) AS occurrences
FROM audio_quality, unnest(g2p_flags) AS flag
GROUP BY dataset, flag
UNION ALL
SELECT dataset, 'clip check' AS source, reason AS id, count(DISTINCT file_hash) AS clips, count(*) AS occurrences
FROM audio_quality, unnest(clip_reasons) AS reason
GROUP BY dataset, reason
ORDER BY dataset, source DESC, occurrences DESC, id;
