-- Per dataset: book chunks (per voice), chunks covered by a kept selected clip, coverage, hours kept and heal attempts spent.
WITH chunks AS (
    SELECT dataset,
           count(DISTINCT (book, voice, chunk_index))                                    AS chunks,
           count(DISTINCT (book, voice, chunk_index, attempt)) FILTER (WHERE attempt > 0 AND heal_step IS DISTINCT FROM 'candidate') AS attempts
    FROM audio_quality
    WHERE book IS NOT NULL AND chunk_index IS NOT NULL
    GROUP BY dataset
),
takes AS (  -- the take each (chunk, voice) ships: heal's selection, or generate's clip where heal never ran
    SELECT dataset, book, voice, chunk_index, bool_and(COALESCE(keep, false)) AS kept, sum(duration_s) AS seconds
    FROM audio_quality
    WHERE book IS NOT NULL AND chunk_index IS NOT NULL
      AND (selected OR (selected IS NULL AND COALESCE(attempt, 0) = 0 AND chunk_part IS NULL))
    GROUP BY dataset, book, voice, chunk_index
)
SELECT c.dataset,
       c.chunks,
       count(*) FILTER (WHERE t.kept)                                                    AS covered,
       round(count(*) FILTER (WHERE t.kept)::numeric / NULLIF(c.chunks, 0), 4)          AS coverage,
       round((COALESCE(sum(t.seconds) FILTER (WHERE t.kept), 0) / 3600.0)::numeric, 3)  AS hours_kept,
       c.attempts                                                                        AS attempts_spent
FROM chunks c
LEFT JOIN takes t USING (dataset)
GROUP BY c.dataset, c.chunks, c.attempts
ORDER BY c.dataset;
