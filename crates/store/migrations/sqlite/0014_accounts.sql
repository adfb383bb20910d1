-- Administrators' accounts, their personal API tokens, and the audit log of changes
-- (crates/store/src/accounts.rs, audit.rs). Passwords are argon2 hashes; tokens SHA-256 digests.
CREATE TABLE accounts (
    name                 TEXT PRIMARY KEY,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    password_set_at      INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens (account);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    via     TEXT NOT NULL,
    source  TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    status  INTEGER NOT NULL,
    request TEXT,
    before  TEXT,
    after   TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
