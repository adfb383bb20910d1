-- Browser sessions of the console (crates/store/src/accounts.rs): kept as the SHA-256 digest of
-- the cookie's secret; they end at `expires_at`, after `idle` seconds without use, at logout, and
-- when the account's password changes or the account goes.
CREATE TABLE sessions (
    digest       TEXT PRIMARY KEY,
    account      TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    source       TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account);
