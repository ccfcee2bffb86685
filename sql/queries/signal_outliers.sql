-- Clips whose signal looks wrong (clipping, long silence, too quiet or too loud), whatever their verdicts say.
SELECT
    dataset,
    path,
    voice,
    concat_ws(', ',
        CASE WHEN clipping_pct > 0.1 THEN 'clipping' END,
        CASE WHEN silence_pct > 35 THEN 'long silence' END,
        CASE WHEN rms_db < -35 THEN 'too quiet' END,
        CASE WHEN rms_db > -12 THEN 'too loud' END
    )                                                                    AS problems,
    clipping_pct,
    silence_pct,
    rms_db,
    peak_amplitude,
    duration_s,
    keep
FROM audio_quality
WHERE clipping_pct > 0.1 OR silence_pct > 35 OR rms_db < -35 OR rms_db > -12
ORDER BY dataset, clipping_pct DESC NULLS LAST, silence_pct DESC NULLS LAST, path;
