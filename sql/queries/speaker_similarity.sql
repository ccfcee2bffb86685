-- Speaker similarity (cosine of each clip's Resemblyzer embedding to its voice's reference) per dataset and voice.
SELECT
    dataset,
    voice,
    count(speaker_similarity)                                                       AS clips,
    round(min(speaker_similarity)::numeric, 3)                                      AS min,
    round(percentile_cont(0.1) WITHIN GROUP (ORDER BY speaker_similarity)::numeric, 3) AS p10,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY speaker_similarity)::numeric, 3) AS median,
    round(avg(speaker_similarity)::numeric, 3)                                      AS mean,
    round(max(speaker_similarity)::numeric, 3)                                      AS max,
    count(*) FILTER (WHERE 'speaker_drift' = ANY (clip_reasons))                    AS drift
FROM audio_quality
WHERE speaker_similarity IS NOT NULL
GROUP BY dataset, voice
ORDER BY dataset, voice;
