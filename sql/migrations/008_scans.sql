-- 008: staged, resumable scans (issue 15, items 1-4). Adds columns and a table only: existing rows
-- keep every value; their fingerprints start empty, so the next validate run redoes them once.

ALTER TABLE audio_quality
    -- What produced each column group of the row, per group: {"primary": {engine, model,
    -- model_hash, version, decoding}, "secondary": {...}, "verdicts": {rules, thresholds, engines},
    -- "quality": {...}, "mos": {mode, judges, ...}}. Merged (||) by each scan that writes a group;
    -- validate skips a clip whose stored fingerprints match the requested work.
    ADD COLUMN IF NOT EXISTS fingerprints jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- false: audio without a label (MOS and signal metrics only, verdict columns NULL);
    -- NULL: rows written before this column (or by generate alone)
    ADD COLUMN IF NOT EXISTS labeled      boolean;

-- Each engine's transcript of a clip, so verdicts can be recomputed without ASR
-- (`pipeline validate --reverdict`) and a later scan can add the secondary engine to the stored
-- primary words. One row per clip and role (primary | secondary); a new transcript replaces it.
CREATE TABLE IF NOT EXISTS audio_transcripts (
    file_hash    text        NOT NULL,
    dataset      text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('primary', 'secondary')),
    engine       text        NOT NULL,
    model        text        NOT NULL,
    text         text,                    -- NULL when the engine failed on the clip
    -- [{"word", "start", "end", "confidence", "calibrated"}, ...] in spoken order; calibrated is
    -- the engine's calibration of confidence (NULL: the engine has no calibration table)
    words        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    error        text,
    ms           real,
    fingerprint  jsonb       NOT NULL,    -- {engine, model, model_hash, version, decoding}
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_hash, dataset, role),
    FOREIGN KEY (file_hash, dataset) REFERENCES audio_quality (file_hash, dataset) ON DELETE CASCADE
);
