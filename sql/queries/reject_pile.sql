-- The reject pile: chunks whose selected take is not kept, with what each engine heard, the reasons and the heal attempts spent.
SELECT q.dataset,
       q.book,
       q.chapter_index,
       'chunk_' || lpad(q.chunk_index::text, 5, '0') || COALESCE(q.chunk_part, '') AS chunk,
       q.voice,
       q.text                                                          AS label,
       q.primary_text,
       q.secondary_text,
       array_to_string(q.reject_reasons, ', ')                         AS reasons,
       (SELECT count(DISTINCT a.attempt) FROM audio_quality a
         WHERE a.dataset = q.dataset AND a.book = q.book AND a.voice = q.voice
           AND a.chunk_index = q.chunk_index AND a.attempt > 0
           AND a.heal_step IS DISTINCT FROM 'candidate')        AS attempts,
       q.path
FROM audio_quality q
WHERE q.book IS NOT NULL AND q.chunk_index IS NOT NULL AND q.keep IS FALSE
  AND (q.selected OR (q.selected IS NULL AND COALESCE(q.attempt, 0) = 0 AND q.chunk_part IS NULL))
ORDER BY q.dataset, q.book, q.voice, q.chunk_index, q.chunk_part NULLS FIRST;
