-- The doubled readings of the label a recognizer was asked about when forced to choose (Whisper:
-- the label against the label with a word or two said twice), each with its log-likelihood ratio
-- ([{"first": 8, "last": 8, "llr": 2.3}, ...]; NULL: not checked). The verdicts count a ratio
-- above 0 like extra words the engine heard, so a re-verdict needs no ASR.
ALTER TABLE audio_transcripts ADD COLUMN IF NOT EXISTS repeats jsonb;
