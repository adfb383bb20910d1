-- Whether the service configures a device: 'approved', or 'pending' / 'rejected' for devices
-- that called in unknown under the quarantine / reject policy.
ALTER TABLE devices ADD COLUMN approval TEXT NOT NULL DEFAULT 'approved';
CREATE INDEX devices_approval ON devices (approval) WHERE approval != 'approved';

-- Devices prepared before the phone exists, bound at its first contact by MAC, else by the
-- E.164 it reports. Variables are JSON (secret values sealed one by one).
CREATE TABLE provisioned_devices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    mac        TEXT UNIQUE,
    e164       TEXT UNIQUE,
    group_name TEXT,
    variables  TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    bound_mac  TEXT,
    bound_at   INTEGER,
    conflict   TEXT,
    CHECK (mac IS NOT NULL OR e164 IS NOT NULL)
);
