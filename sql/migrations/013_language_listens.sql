-- A multilingual engine's second listen, in that language, to each run of the label in another
-- language ("Où est ma chatte?" in an English book): [{"language", "first", "last", "text"}]
-- (label word indices; NULL: none). The verdict rule stt_error.heard_in_language reads them, so
-- a re-verdict needs no ASR.
ALTER TABLE audio_transcripts ADD COLUMN IF NOT EXISTS listens jsonb;
