-- A stored file's number is never given again after it is removed: jobs, pins and download URLs
-- name files by number, and must not come to name another (AUTOINCREMENT, which SQLite adds only
-- to a new table).
CREATE TABLE stored_files_numbered (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    file_type TEXT NOT NULL,
    name      TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    version   TEXT,
    models    TEXT NOT NULL DEFAULT '[]',
    added_at  INTEGER NOT NULL,
    UNIQUE (kind, name)
);
INSERT INTO stored_files_numbered (id, kind, file_type, name, sha256, size, version, models, added_at)
    SELECT id, kind, file_type, name, sha256, size, version, models, added_at FROM stored_files;
DROP TABLE stored_files;
ALTER TABLE stored_files_numbered RENAME TO stored_files;
CREATE INDEX stored_files_sha256 ON stored_files (sha256);
-- Numbers used by jobs or pins for files already removed stay used.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'stored_files', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'stored_files');
UPDATE sqlite_sequence SET seq = MAX(seq,
        COALESCE((SELECT MAX(file_id) FROM job_files), 0),
        COALESCE((SELECT MAX(file_id) FROM firmware_pins), 0))
    WHERE name = 'stored_files';
