-- Secure Mode (guide p. 62-68).

-- The security mode an administrator wants, per scope ('global' with '', 'group' or 'device').
CREATE TABLE security_modes (
    scope     TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    mode      TEXT NOT NULL,
    PRIMARY KEY (scope, scope_key)
);

-- Each device's Secure Mode state; no row = Default Mode.
CREATE TABLE device_security (
    mac                TEXT PRIMARY KEY NOT NULL,
    state              TEXT NOT NULL,
    pin_bootstrap      INTEGER NOT NULL DEFAULT 0,
    pending_tan        TEXT,
    certificate_serial TEXT,
    since              INTEGER NOT NULL,
    detail             TEXT NOT NULL
);

-- Client certificates issued to devices (never their keys).
CREATE TABLE certificates (
    serial        TEXT PRIMARY KEY NOT NULL,
    fingerprint   TEXT NOT NULL UNIQUE,
    mac           TEXT NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    state         TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    ended_at      INTEGER,
    ended_reason  TEXT
);
CREATE INDEX certificates_mac ON certificates (mac, state);

-- Bootstrap PINs: a device's individual PIN or a group's default PIN ('device' / 'group').
CREATE TABLE pins (
    scope      TEXT NOT NULL,
    scope_key  TEXT NOT NULL,
    pin        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_key)
);

-- What each phone's TLS client offered (legacy TLS or not), for the inventory.
ALTER TABLE devices ADD COLUMN tls_offer TEXT;
