-- 009: human review (issue 17). People listen to clips in `pipeline review`, approve or reject
-- them and rate their MOS. One row per (clip, person) in each table: a reviewer who changes their
-- mind overwrites their own row (upsert), and two reviewers never overwrite each other.
-- Adds tables and columns only: existing rows keep every value.

CREATE TABLE IF NOT EXISTS reviews (
    file_hash   text        NOT NULL,
    dataset     text        NOT NULL,
    reviewer    text        NOT NULL,
    decision    text        NOT NULL CHECK (decision IN ('approve', 'reject')),
    note        text,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_hash, dataset, reviewer),
    FOREIGN KEY (file_hash, dataset) REFERENCES audio_quality (file_hash, dataset) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS reviews_latest ON reviews (dataset, file_hash, decided_at DESC);

CREATE TABLE IF NOT EXISTS human_ratings (
    file_hash   text        NOT NULL,
    dataset     text        NOT NULL,
    rater       text        NOT NULL,
    mos         smallint    NOT NULL CHECK (mos BETWEEN 1 AND 5),
    rated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_hash, dataset, rater),
    FOREIGN KEY (file_hash, dataset) REFERENCES audio_quality (file_hash, dataset) ON DELETE CASCADE
);

-- The latest human decision on the clip (approve | reject), NULL when nobody reviewed it; kept
-- up to date by the trigger below. `keep` stays the machine's decision, so SQL can tell them apart.
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS human_decision text;
-- What export and heal use: a human decision wins over the machine's `keep`.
ALTER TABLE audio_quality ADD COLUMN IF NOT EXISTS effective_keep boolean GENERATED ALWAYS AS (
    CASE human_decision WHEN 'approve' THEN true WHEN 'reject' THEN false ELSE keep END
) STORED;

CREATE OR REPLACE FUNCTION reviews_refresh_decision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    clip record;
BEGIN
    IF TG_OP = 'DELETE' THEN clip := OLD; ELSE clip := NEW; END IF;
    UPDATE audio_quality q
       SET human_decision = (SELECT r.decision FROM reviews r
                              WHERE r.file_hash = clip.file_hash AND r.dataset = clip.dataset
                              ORDER BY r.decided_at DESC, r.reviewer LIMIT 1)
     WHERE q.file_hash = clip.file_hash AND q.dataset = clip.dataset;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS reviews_refresh_decision ON reviews;
CREATE TRIGGER reviews_refresh_decision AFTER INSERT OR UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_refresh_decision();

-- The review page's clip list (pipeline/review/queries.py ORDERS): one index per sort order, on
-- the very expressions it sorts by, so keyset pagination walks an index (worst first, lowest MOS
-- first, book order).
CREATE INDEX IF NOT EXISTS audio_quality_review_worst
    ON audio_quality (dataset, (COALESCE(adjusted_wer, -1)), file_hash);
CREATE INDEX IF NOT EXISTS audio_quality_review_mos
    ON audio_quality (dataset, (COALESCE(composite_mos, 99)), file_hash);
CREATE INDEX IF NOT EXISTS audio_quality_review_book
    ON audio_quality (dataset, (COALESCE(book, '')), (COALESCE(chapter_index, -1)), (COALESCE(chunk_index, -1)), file_hash);
CREATE INDEX IF NOT EXISTS audio_quality_human_decision
    ON audio_quality (dataset, human_decision) WHERE human_decision IS NOT NULL;

-- Machine and human side by side: one row per clip.
CREATE OR REPLACE VIEW clip_decisions AS
SELECT
    q.file_hash,
    q.dataset,
    q.path,
    q.keep                                                    AS machine_keep,
    q.human_decision,
    q.effective_keep,
    CASE WHEN q.human_decision IS NULL THEN 'machine' ELSE 'human' END AS decided_by,
    (SELECT count(*) FROM reviews r WHERE r.file_hash = q.file_hash AND r.dataset = q.dataset) AS n_reviews,
    (SELECT avg(h.mos)::real FROM human_ratings h
      WHERE h.file_hash = q.file_hash AND h.dataset = q.dataset)                            AS human_mos,
    (SELECT count(*) FROM human_ratings h
      WHERE h.file_hash = q.file_hash AND h.dataset = q.dataset)                            AS n_ratings
FROM audio_quality q;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pipeline_reader') THEN
        GRANT SELECT ON reviews, human_ratings, clip_decisions TO pipeline_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'pipeline_reader gets no SELECT on the review tables (%)', SQLERRM;
END
$$;
