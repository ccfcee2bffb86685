-- Per dataset and verdict (from audio_words, insertions included): words, share of the dataset's words, files.
SELECT
    dataset,
    verdict,
    count(*)                                                             AS words,
    round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY dataset), 2) AS pct,
    count(DISTINCT file_hash)                                            AS files,
    count(*) FILTER (WHERE word_index < 0)                               AS insertions
FROM audio_words
GROUP BY dataset, verdict
ORDER BY dataset, words DESC, verdict;
