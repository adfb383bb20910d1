-- Firmware images and files for phones. The content lives in the data directory, named by its
-- SHA-256 (several rows may share one content); a row is what an administrator added.
CREATE TABLE stored_files (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,             -- 'firmware' or 'file'
    file_type TEXT NOT NULL,             -- guide p. 177: APP for firmware, RINGTONE, LOGO, ...
    name      TEXT NOT NULL,             -- the file-name phones are given
    sha256    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    version   TEXT,                      -- firmware only, e.g. 'V3 R5.12.0'
    models    TEXT NOT NULL DEFAULT '[]',-- JSON list of model patterns it is for
    added_at  INTEGER NOT NULL,
    UNIQUE (kind, name)
);
CREATE INDEX stored_files_sha256 ON stored_files (sha256);
