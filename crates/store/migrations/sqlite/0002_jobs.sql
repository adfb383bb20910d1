-- Jobs: work an administrator ordered, with one row per target device. Targets are resolved
-- when the job is created, so a job's scope never changes under it.
CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,    -- JSON of the engine's JobKind
    targets    TEXT NOT NULL,    -- JSON of how the targets were chosen, for the listing
    contact_me INTEGER NOT NULL, -- 1: contact the phones now; 0: wait for their next contact
    created_at INTEGER NOT NULL,
    give_up_at INTEGER NOT NULL,
    cancelled_at INTEGER
);

CREATE TABLE job_targets (
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    mac         TEXT NOT NULL,
    state       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    detail      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, mac)
);
-- The phone endpoint looks up a device's unfinished work on every contact.
CREATE INDEX job_targets_active ON job_targets (mac, job_id)
    WHERE state IN ('queued', 'contacting', 'running', 'waiting-busy');

-- Contact-me pacing per device: when the next one may go, how many went unanswered by a
-- call-back, and when the phone last answered one (its contact gap starts then).
CREATE TABLE contact_schedule (
    mac              TEXT PRIMARY KEY NOT NULL,
    next_at          INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    last_sent_at     INTEGER,
    last_answered_at INTEGER,
    last_result      TEXT NOT NULL DEFAULT ''
);
