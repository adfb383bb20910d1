//! Staged rollouts on SQLite: waves assigned when a job is created, released by the
//! scheduler's tick, held while a job is paused.

use opendls_engine::{TargetState, Timestamp};
use rusqlite::{Connection, Transaction, params};

use super::from_json;
use crate::rollout::{Rollout, RolloutStep};
use crate::{StoreError, StoreResult};

pub(super) use crate::columns::UNFINISHED;

/// Puts a new job's targets in their waves; every target after the first wave is held.
pub(super) fn assign_waves(tx: &Transaction<'_>, job_id: i64, rollout: &Rollout) -> StoreResult<()> {
    let macs = tx
        .prepare("SELECT mac FROM job_targets WHERE job_id = ?1 ORDER BY mac")?
        .query_map(params![job_id], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare(
        "UPDATE job_targets SET wave = ?3, \
         state = CASE WHEN ?3 > 0 THEN 'held' ELSE state END, \
         detail = CASE WHEN ?3 > 0 THEN 'held for wave ' || ?3 || ' of the rollout' ELSE detail END \
         WHERE job_id = ?1 AND mac = ?2",
    )?;
    for (mac, wave) in macs.iter().zip(rollout.waves(macs.len() as u32)) {
        update.execute(params![job_id, mac, wave])?;
    }
    Ok(())
}

/// Targets of a job counted for its rollout: failed (since the last resume), finished, active.
struct Progress {
    failed: u32,
    finished: u32,
    active: u32,
}

fn progress(tx: &Connection, job_id: i64, failures_accepted: u32) -> StoreResult<Progress> {
    let mut progress = Progress { failed: 0, finished: 0, active: 0 };
    let mut counting =
        tx.prepare_cached("SELECT state, COUNT(*) FROM job_targets WHERE job_id = ?1 GROUP BY state")?;
    let rows =
        counting.query_map(params![job_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)))?;
    for row in rows {
        let (state, count) = row?;
        let state: TargetState = state.parse().map_err(StoreError::Corrupt)?;
        if state.is_failure() {
            progress.failed += count;
        }
        if state.is_final() {
            progress.finished += count;
        } else if state != TargetState::Held {
            progress.active += count;
        }
    }
    progress.failed = progress.failed.saturating_sub(failures_accepted);
    Ok(progress)
}

/// Holds a job's targets not yet contacted; every held one says why.
fn hold(tx: &Transaction<'_>, job_id: i64, now: Timestamp, why: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE job_targets SET state = 'held', detail = ?3, \
         updated_at = CASE WHEN state = 'queued' THEN ?2 ELSE updated_at END \
         WHERE job_id = ?1 AND state IN ('queued', 'held')",
    )?
    .execute(params![job_id, now, why])?;
    Ok(())
}

/// One scheduler step over every staged job with held targets.
pub(super) fn advance(tx: &Transaction<'_>, now: Timestamp) -> StoreResult<Vec<RolloutStep>> {
    let jobs = tx
        .prepare_cached(
            "SELECT j.id, j.rollout, j.failures_accepted FROM jobs j \
             WHERE j.paused_at IS NULL AND j.cancelled_at IS NULL \
             AND EXISTS (SELECT 1 FROM job_targets t WHERE t.job_id = j.id AND t.state = 'held')",
        )?
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, u32>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut steps = Vec::new();
    for (job_id, rollout, failures_accepted) in jobs {
        let rollout: Rollout = rollout.as_deref().map(from_json).transpose()?.unwrap_or_default();
        let progress = progress(tx, job_id, failures_accepted)?;
        if let Some(reason) = rollout.pause_reason(progress.failed, progress.finished, progress.active == 0) {
            tx.execute(
                "UPDATE jobs SET paused_at = ?2, paused_reason = ?3 WHERE id = ?1",
                params![job_id, now, reason],
            )?;
            hold(tx, job_id, now, "held: the job paused itself")?;
            steps.push(RolloutStep { job_id, released: 0, paused: Some(reason) });
            continue;
        }
        if progress.active > 0 {
            continue;
        }
        let released = tx.execute(
            "UPDATE job_targets SET state = 'queued', updated_at = ?2, \
             detail = 'released by the rollout (wave ' || wave || ')' \
             WHERE job_id = ?1 AND state = 'held' \
             AND wave = (SELECT MIN(wave) FROM job_targets WHERE job_id = ?1 AND state = 'held')",
            params![job_id, now],
        )? as u32;
        steps.push(RolloutStep { job_id, released, paused: None });
    }
    Ok(steps)
}

/// Pauses a job; `None` when there is none, else whether it was running.
pub(super) fn pause(
    tx: &Transaction<'_>,
    job_id: i64,
    now: Timestamp,
    reason: &str,
) -> StoreResult<Option<bool>> {
    if !exists(tx, job_id)? {
        return Ok(None);
    }
    let sql = format!(
        "UPDATE jobs SET paused_at = ?2, paused_reason = ?3 WHERE id = ?1 AND paused_at IS NULL \
         AND cancelled_at IS NULL AND EXISTS (SELECT 1 FROM job_targets WHERE job_id = ?1 AND state IN {UNFINISHED})"
    );
    let paused = tx.execute(&sql, params![job_id, now, reason])? > 0;
    if paused {
        hold(tx, job_id, now, "held: the job is paused")?;
    }
    Ok(Some(paused))
}

/// Resumes a paused job: the failures so far are accepted, the held targets are released by
/// the next rollout step.
pub(super) fn resume(tx: &Transaction<'_>, job_id: i64) -> StoreResult<Option<bool>> {
    if !exists(tx, job_id)? {
        return Ok(None);
    }
    let failed: u32 = tx.query_row(
        "SELECT COUNT(*) FROM job_targets WHERE job_id = ?1 AND state IN ('failed', 'timed-out')",
        params![job_id],
        |row| row.get(0),
    )?;
    let resumed = tx.execute(
        "UPDATE jobs SET paused_at = NULL, paused_reason = NULL, failures_accepted = ?2 \
         WHERE id = ?1 AND paused_at IS NOT NULL AND cancelled_at IS NULL",
        params![job_id, failed],
    )? > 0;
    if resumed {
        tx.execute(
            "UPDATE job_targets SET detail = 'held until the rollout releases it' WHERE job_id = ?1 AND state = 'held'",
            params![job_id],
        )?;
    }
    Ok(Some(resumed))
}

fn exists(tx: &Connection, job_id: i64) -> StoreResult<bool> {
    use rusqlite::OptionalExtension;
    Ok(tx.query_row("SELECT 1 FROM jobs WHERE id = ?1", params![job_id], |_| Ok(())).optional()?.is_some())
}

/// Keeps the ACTIVE list and the partial index it mirrors in one place with UNFINISHED.
#[cfg(test)]
mod tests {
    #[test]
    fn unfinished_is_active_and_held() {
        assert_eq!(super::UNFINISHED, super::super::jobs::ACTIVE.replace(')', ", 'held')"));
    }
}
