-- Contents whose last stored file was removed (on any node), so that every node deletes its
-- own copy (docs/scale-out.md). Only what is listed here is ever deleted by a node's tidying:
-- a node started on the wrong database deletes nothing it holds. A content uploaded again is
-- taken off the list; entries older than 90 days are dropped.
CREATE TABLE removed_contents (
    sha256     TEXT PRIMARY KEY,
    removed_at BIGINT NOT NULL
);
