-- 004: user-supplied SQL (`pipeline export --where`) runs as pipeline_reader, a role that can
-- only SELECT the project's tables and views: no superuser functions (pg_terminate_backend,
-- pg_reload_conf, pg_read_file ...), no writes. Roles are cluster-wide; grants are per database.
--
-- The filter is evaluated inside pipeline_filter(), a SECURITY DEFINER function owned by
-- pipeline_reader: within it the current user is pipeline_reader and PostgreSQL refuses
-- SET ROLE / SET SESSION AUTHORIZATION ("within security-definer function"), so a filter cannot
-- switch back to the connecting (possibly superuser) role with set_config('role', ...).
-- Without the privilege to create roles the migration creates nothing (a NOTICE says so) and
-- export refuses --where with a clear message.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pipeline_reader') THEN
        BEGIN
            CREATE ROLE pipeline_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- created by a concurrent migration
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'pipeline_reader not created (no CREATEROLE): export --where is disabled';
                RETURN;
        END;
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO pipeline_reader', current_schema());
    GRANT SELECT ON audio_quality, audio_words, runs, clip_summary, word_failures TO pipeline_reader;
    -- so this role may hand the function below to pipeline_reader
    EXECUTE format('GRANT pipeline_reader TO %I', current_user);

    CREATE OR REPLACE FUNCTION pipeline_filter(filter text, wanted_dataset text)
        RETURNS TABLE (file_hash text, dataset text)
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path FROM CURRENT
    AS $fn$
    BEGIN
        RETURN QUERY EXECUTE
            'SELECT file_hash::text, dataset::text FROM audio_quality WHERE dataset = $1 AND (' || filter || E'\n)'
            USING wanted_dataset;
    END
    $fn$;
    ALTER FUNCTION pipeline_filter(text, text) OWNER TO pipeline_reader;
    REVOKE ALL ON FUNCTION pipeline_filter(text, text) FROM PUBLIC;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'pipeline_reader not set up (%): export --where is disabled', SQLERRM;
END
$$;
