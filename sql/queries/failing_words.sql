-- The 30 words per dataset that fail most (tts_failure + ambiguous), by normalized word, with what the engines heard.
SELECT dataset, norm_word, tts_failure, ambiguous, unverified, occurrences, fail_rate, heard_as
FROM (
    SELECT
        dataset,
        norm_word,
        count(*) FILTER (WHERE verdict = 'tts_failure')                  AS tts_failure,
        count(*) FILTER (WHERE verdict = 'ambiguous')                    AS ambiguous,
        count(*) FILTER (WHERE verdict = 'unverified')                   AS unverified,
        count(*)                                                         AS occurrences,
        round(count(*) FILTER (WHERE verdict IN ('tts_failure', 'ambiguous'))::numeric / count(*), 3) AS fail_rate,
        string_agg(DISTINCT primary_word, ', ')
            FILTER (WHERE verdict IN ('tts_failure', 'ambiguous'))       AS heard_as,
        row_number() OVER (
            PARTITION BY dataset
            ORDER BY count(*) FILTER (WHERE verdict IN ('tts_failure', 'ambiguous')) DESC, count(*) DESC, norm_word
        )                                                                AS rank
    FROM audio_words
    WHERE word_index >= 0
    GROUP BY dataset, norm_word
    HAVING count(*) FILTER (WHERE verdict IN ('tts_failure', 'ambiguous')) > 0
) ranked
WHERE rank <= 30
ORDER BY dataset, rank;
