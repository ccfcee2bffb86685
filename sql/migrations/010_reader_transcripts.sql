-- The read-only role (004) reads the stored transcripts too (008): SQL over what each engine heard,
-- word by word, is what they are stored for.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pipeline_reader') THEN
        GRANT SELECT ON audio_transcripts TO pipeline_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'pipeline_reader gets no SELECT on audio_transcripts (%)', SQLERRM;
END
$$;
