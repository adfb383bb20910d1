-- Deployment jobs (guide p. 52-57). A running target says what it is doing (downloading,
-- rebooting, verifying); a job names the stored files it hands to phones, so a file in use by an
-- unfinished job is not removed.
ALTER TABLE job_targets ADD COLUMN phase TEXT;
CREATE TABLE job_files (
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL,
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX job_files_file ON job_files (file_id);
