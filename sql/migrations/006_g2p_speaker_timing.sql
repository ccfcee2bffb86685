-- 006: the G2P audit, Kokoro's predicted word times, speaker similarity and the clip checks
-- (issue 12, items 3 and 5). Only new nullable columns: existing rows keep every value.

ALTER TABLE audio_quality
    -- generation: what the G2P audit found in the chunk (one rule id per finding, fixed ones as
    -- '<rule>.fixed') and the findings themselves ({rule, word, phonemes, fixed, detail})
    ADD COLUMN IF NOT EXISTS g2p_flags          text[],
    ADD COLUMN IF NOT EXISTS g2p_details        jsonb,
    -- generation: per label word {index, word, phonemes, start_s, end_s} from Kokoro's durations
    ADD COLUMN IF NOT EXISTS word_times         jsonb,
    -- validate: cosine similarity of the clip's speaker embedding to its voice's reference
    ADD COLUMN IF NOT EXISTS speaker_similarity real,
    -- validate: reason ids of the clip checks that failed (speaker_drift, long_silence, clipping,
    -- truncated, timing_mismatch, g2p_letter_spelling, ...) and their measurements
    ADD COLUMN IF NOT EXISTS clip_reasons       text[],
    ADD COLUMN IF NOT EXISTS clip_checks        jsonb;

CREATE INDEX IF NOT EXISTS audio_quality_clip_reasons ON audio_quality USING gin (clip_reasons);
CREATE INDEX IF NOT EXISTS audio_quality_g2p_flags ON audio_quality USING gin (g2p_flags);
