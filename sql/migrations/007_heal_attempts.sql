-- 007: heal (issue 14). Every re-synthesis of a chunk is a clip of its own; these columns link
-- the attempts of one (chunk, voice) and say which one the dataset ships. Only new nullable
-- columns: existing rows keep every value (NULL attempt = the generate clip, attempt 0).

ALTER TABLE audio_quality
    -- 0 = the clip generate made; 1.. = heal's re-syntheses of the chunk, in ladder order
    ADD COLUMN IF NOT EXISTS attempt    integer,
    -- NULL = the whole chunk; 'a', 'b' = the halves of a chunk heal split at a clause boundary
    -- (their labels joined by one space are the chunk's label)
    ADD COLUMN IF NOT EXISTS chunk_part text,
    -- the ladder rung that made the attempt: lexicon | speed | split | backend | candidate
    ADD COLUMN IF NOT EXISTS heal_step  text,
    -- set by heal's selection: the take of each (chunk, voice) the dataset ships (true), the
    -- others (false); NULL = never selected over (a dataset heal has not run on ships every clip)
    ADD COLUMN IF NOT EXISTS selected   boolean;

-- At most one selected clip per (dataset, chunk, part, voice).
CREATE UNIQUE INDEX IF NOT EXISTS audio_quality_one_selected
    ON audio_quality (dataset, book, voice, chunk_index, (COALESCE(chunk_part, '')))
    WHERE selected;
