-- The secrets key every stored secret was last re-sealed with, so that a start need not read
-- every device to find out (empty: never, or a database from before sealing).
CREATE TABLE secrets_sealed_with (
    key_id TEXT NOT NULL
);
