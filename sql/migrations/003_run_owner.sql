-- 003: who runs a run. owner = 'host:pid:process-start-ticks' of the command's process, so the
-- next start can tell a run whose process was killed (still 'running') from a live one.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner text;
CREATE INDEX IF NOT EXISTS runs_running ON runs (status) WHERE status = 'running';
