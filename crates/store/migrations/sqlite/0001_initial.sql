-- Devices: identity, searchable fields, and the reported state as one JSON document per device
-- (a phone reports a few hundred items; one row per item would be 30M rows at 100k phones).
CREATE TABLE devices (
    mac               TEXT PRIMARY KEY NOT NULL,
    e164              TEXT,
    device_type       TEXT,
    software_version  TEXT,
    contact_me_uri    TEXT,
    group_name        TEXT,
    first_seen        INTEGER NOT NULL,
    last_contact      INTEGER NOT NULL,
    last_reason       TEXT NOT NULL,
    remote_addr       TEXT,
    inventory_read_at INTEGER,
    reported          TEXT NOT NULL DEFAULT '[]',
    flagged           TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX devices_group ON devices (group_name);
CREATE INDEX devices_e164 ON devices (e164);

-- Desired configuration. scope is 'global', 'group' or 'device'; scope_key is '' for global.
-- item_index is -1 for items without an index, so the primary key works without NULLs.
CREATE TABLE desired_items (
    scope      TEXT NOT NULL,
    scope_key  TEXT NOT NULL,
    name       TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_key, name, item_index)
);

-- Local-change policy per scope ('global' with '' or 'group' with its name).
CREATE TABLE policies (
    scope     TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    policy    TEXT NOT NULL,
    PRIMARY KEY (scope, scope_key)
);

-- Interactions in progress, keyed by session cookie; never kept in a connection.
CREATE TABLE interactions (
    session_id  TEXT PRIMARY KEY NOT NULL,
    mac         TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    state       TEXT NOT NULL
);
CREATE INDEX interactions_mac ON interactions (mac);
CREATE INDEX interactions_remote ON interactions (remote_addr, updated_at);

CREATE TABLE history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    mac        TEXT NOT NULL,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    name       TEXT,
    item_index INTEGER,
    old_value  TEXT,
    new_value  TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX history_mac ON history (mac, id);

-- Values a phone refused, so they are not sent again until they change.
CREATE TABLE write_failures (
    mac        TEXT NOT NULL,
    name       TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    value      TEXT NOT NULL,
    status     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (mac, name, item_index)
);
