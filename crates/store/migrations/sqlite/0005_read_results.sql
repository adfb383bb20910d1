-- Which requested items a read-items target got back (JSON of opendls_engine::ReadResult);
-- NULL for other kinds and for reads finished before this column existed.
ALTER TABLE job_targets ADD COLUMN read_result TEXT;
