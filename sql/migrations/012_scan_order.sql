-- The order scans page through stored clips (pipeline/store/scans.py stored_pages: keyset paging
-- on (dataset, path, file_hash)): an index scan per page instead of a sort of the whole dataset.
CREATE INDEX IF NOT EXISTS audio_quality_scan_order ON audio_quality (dataset, (COALESCE(path, '')), file_hash);
