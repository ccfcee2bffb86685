-- 005: keep decisions (issue 12). Adds columns only: existing rows keep every value and get NULL
-- in the new columns until their clips are validated again.

-- Why a clip is not kept: reason ids (verdicts/keep.py: tts_failure, insertion, ambiguous,
-- ambiguous_insertion, unverified, unspeakable_label, low_mos, and those of other checks).
-- Empty array = kept; NULL = not validated since this column exists.
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS reject_reasons text[];
-- Mean calibrated probability that a word is right, per engine (data/calibration/).
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS primary_conf_calibrated real;
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS secondary_conf_calibrated real;
-- What Kokoro was fed for each label word (the split of `phonemes` over text's words).
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS word_phonemes text[];
-- Unexplained insertion rows heard by every engine that ran (n_insertions counts them all).
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS n_confirmed_insertions integer;

CREATE INDEX IF NOT EXISTS audio_quality_reject_reasons ON audio_quality USING gin (reject_reasons);

-- Insertion rows: the label word they come before (n_words = after the last word); NULL for
-- label words, whose word_index is their position.
ALTER TABLE audio_words ADD COLUMN IF NOT EXISTS position integer;
-- The phonemes Kokoro was fed for the label word (NULL for insertions and foreign data).
ALTER TABLE audio_words ADD COLUMN IF NOT EXISTS fed_phonemes text;
