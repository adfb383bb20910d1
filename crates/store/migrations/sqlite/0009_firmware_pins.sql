-- Desired firmware per model (and group): phones of the model that run another version get the
-- image through the pin's standing job, as the DLS's automatic software deployment does.
CREATE TABLE firmware_pins (
    model           TEXT NOT NULL,              -- a model pattern in full ('OpenStage 60', 'OpenScape Desk Phone CP4*')
    group_name      TEXT NOT NULL DEFAULT '',   -- '' for every group
    job_id          INTEGER NOT NULL REFERENCES jobs (id),
    file_id         INTEGER NOT NULL,
    version         TEXT NOT NULL,
    allow_downgrade INTEGER NOT NULL,
    set_at          INTEGER NOT NULL,
    PRIMARY KEY (model, group_name)
);
