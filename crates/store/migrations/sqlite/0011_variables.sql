-- Template variables at global ('' key), group or device scope. A secret one's value is sealed
-- like a secret item's (crate::secrets) and masked wherever it is shown.
CREATE TABLE variables (
    scope      TEXT NOT NULL,
    scope_key  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    secret     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_key, name)
);
