-- Staged rollouts: a job's targets are released in waves (a canary, then batches); a job pauses
-- itself when failures pass its threshold. Held targets are not yet released.
ALTER TABLE jobs ADD COLUMN rollout TEXT;              -- JSON of the rollout; NULL: all at once
ALTER TABLE jobs ADD COLUMN paused_at INTEGER;
ALTER TABLE jobs ADD COLUMN paused_reason TEXT;
ALTER TABLE jobs ADD COLUMN failures_accepted INTEGER NOT NULL DEFAULT 0;  -- failures before the last resume
ALTER TABLE job_targets ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;
CREATE INDEX job_targets_held ON job_targets (job_id, wave) WHERE state = 'held';
