-- The content of stored files, kept for the nodes that lack it (docs/scale-out.md): each node
-- serves content from its data directory and fetches what it lacks from here. A content's row
-- in kept_contents and all its chunks are written in one transaction.
CREATE TABLE kept_contents (
    sha256 TEXT PRIMARY KEY,
    size   BIGINT NOT NULL,
    chunks INTEGER NOT NULL
);
CREATE TABLE content_chunks (
    sha256 TEXT NOT NULL REFERENCES kept_contents (sha256) ON DELETE CASCADE,
    chunk  INTEGER NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (sha256, chunk)
);
-- Firmware images and pictures are compressed already: stored out of line without trying again.
ALTER TABLE content_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
