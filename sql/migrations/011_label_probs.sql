-- Each engine's probability of every label word when its decoder is forced to read the label
-- (stored where the engine heard something else; NULL: not scored). The verdict rule
-- stt_error.label_plausible reads them, so a re-verdict needs no ASR.
ALTER TABLE audio_transcripts ADD COLUMN IF NOT EXISTS label_probs jsonb;
