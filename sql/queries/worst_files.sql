-- The 20 worst validated files per dataset: highest adjusted WER, then most tts_failure, then primary WER.
SELECT
    dataset,
    rank,
    path,
    voice,
    adjusted_wer,
    primary_wer,
    n_tts_failure,
    n_ambiguous,
    n_unverified,
    tier,
    keep,
    composite_mos,
    text
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY dataset
            ORDER BY adjusted_wer DESC NULLS LAST, n_tts_failure DESC NULLS LAST, primary_wer DESC NULLS LAST, path
        ) AS rank
    FROM audio_quality
    WHERE n_words IS NOT NULL
      AND (adjusted_wer > 0 OR n_tts_failure > 0 OR n_ambiguous > 0 OR primary_wer > 0)
) ranked
WHERE rank <= 20
ORDER BY dataset, rank;
