//! Staged rollouts on PostgreSQL: waves assigned when a job is created, released by the
//! scheduler's tick, held while a job is paused.

use deadpool_postgres::{GenericClient, Transaction};
use opendls_engine::{TargetState, Timestamp};

use super::{execute, exists, query};
use crate::StoreResult;
use crate::columns::{UNFINISHED, from_json, state_from};
use crate::rollout::{Rollout, RolloutStep};

/// Puts a new job's targets in their waves; every target after the first wave is held.
pub(super) async fn assign_waves(tx: &Transaction<'_>, job_id: i64, rollout: &Rollout) -> StoreResult<()> {
    let macs = query(tx, "SELECT mac FROM job_targets WHERE job_id = $1 ORDER BY mac", &[&job_id])
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect::<StoreResult<Vec<String>>>()?;
    let waves: Vec<i64> = rollout.waves(macs.len() as u32).into_iter().map(i64::from).collect();
    execute(
        tx,
        "UPDATE job_targets t SET wave = w.wave, \
         state = CASE WHEN w.wave > 0 THEN 'held' ELSE t.state END, \
         detail = CASE WHEN w.wave > 0 THEN 'held for wave ' || w.wave || ' of the rollout' ELSE t.detail END \
         FROM unnest($2::text[], $3::bigint[]) AS w(mac, wave) WHERE t.job_id = $1 AND t.mac = w.mac",
        &[&job_id, &macs, &waves],
    )
    .await?;
    Ok(())
}

/// Targets of a job counted for its rollout: failed (since the last resume), finished, active.
struct Progress {
    failed: u32,
    finished: u32,
    active: u32,
}

async fn progress(db: &impl GenericClient, job_id: i64, failures_accepted: u32) -> StoreResult<Progress> {
    let mut progress = Progress { failed: 0, finished: 0, active: 0 };
    let rows =
        query(db, "SELECT state, COUNT(*) FROM job_targets WHERE job_id = $1 GROUP BY state", &[&job_id])
            .await?;
    for row in rows {
        let state = state_from(row.try_get(0)?)?;
        let count = u32::try_from(row.try_get::<_, i64>(1)?).unwrap_or(u32::MAX);
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
async fn hold(tx: &Transaction<'_>, job_id: i64, now: Timestamp, why: &str) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE job_targets SET state = 'held', detail = $3, \
         updated_at = CASE WHEN state = 'queued' THEN $2::bigint ELSE updated_at END \
         WHERE job_id = $1 AND state IN ('queued', 'held')",
        &[&job_id, &now, &why],
    )
    .await?;
    Ok(())
}

/// One scheduler step over every staged job with held targets. A job being stepped by another
/// node is skipped (its row is locked), so two nodes never release the same wave twice.
pub(super) async fn advance(tx: &Transaction<'_>, now: Timestamp) -> StoreResult<Vec<RolloutStep>> {
    let jobs = query(
        tx,
        "SELECT j.id, j.rollout, j.failures_accepted FROM jobs j \
         WHERE j.paused_at IS NULL AND j.cancelled_at IS NULL \
         AND EXISTS (SELECT 1 FROM job_targets t WHERE t.job_id = j.id AND t.state = 'held') \
         FOR UPDATE OF j SKIP LOCKED",
        &[],
    )
    .await?;
    let mut steps = Vec::new();
    for row in jobs {
        let job_id: i64 = row.try_get(0)?;
        let rollout: Option<String> = row.try_get(1)?;
        let rollout: Rollout = rollout.as_deref().map(from_json).transpose()?.unwrap_or_default();
        let accepted = u32::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0);
        let progress = progress(tx, job_id, accepted).await?;
        if let Some(reason) = rollout.pause_reason(progress.failed, progress.finished, progress.active == 0) {
            execute(
                tx,
                "UPDATE jobs SET paused_at = $2, paused_reason = $3 WHERE id = $1",
                &[&job_id, &now, &reason],
            )
            .await?;
            hold(tx, job_id, now, "held: the job paused itself").await?;
            steps.push(RolloutStep { job_id, released: 0, paused: Some(reason) });
            continue;
        }
        if progress.active > 0 {
            continue;
        }
        let released = execute(
            tx,
            "UPDATE job_targets SET state = 'queued', updated_at = $2, \
             detail = 'released by the rollout (wave ' || wave || ')' \
             WHERE job_id = $1 AND state = 'held' \
             AND wave = (SELECT MIN(wave) FROM job_targets WHERE job_id = $1 AND state = 'held')",
            &[&job_id, &now],
        )
        .await? as u32;
        steps.push(RolloutStep { job_id, released, paused: None });
    }
    Ok(steps)
}

/// Pauses a job; `None` when there is none, else whether it was running.
pub(super) async fn pause(
    tx: &Transaction<'_>,
    job_id: i64,
    now: Timestamp,
    reason: &str,
) -> StoreResult<Option<bool>> {
    if !exists(tx, "SELECT 1 FROM jobs WHERE id = $1", &[&job_id]).await? {
        return Ok(None);
    }
    let sql = format!(
        "UPDATE jobs SET paused_at = $2, paused_reason = $3 WHERE id = $1 AND paused_at IS NULL \
         AND cancelled_at IS NULL AND EXISTS (SELECT 1 FROM job_targets WHERE job_id = $1 AND state IN {UNFINISHED})"
    );
    let paused = execute(tx, &sql, &[&job_id, &now, &reason]).await? > 0;
    if paused {
        hold(tx, job_id, now, "held: the job is paused").await?;
    }
    Ok(Some(paused))
}

/// Resumes a paused job: the failures so far are accepted, the held targets are released by
/// the next rollout step.
pub(super) async fn resume(tx: &Transaction<'_>, job_id: i64) -> StoreResult<Option<bool>> {
    if !exists(tx, "SELECT 1 FROM jobs WHERE id = $1", &[&job_id]).await? {
        return Ok(None);
    }
    let resumed = execute(
        tx,
        "UPDATE jobs SET paused_at = NULL, paused_reason = NULL, failures_accepted = \
         (SELECT COUNT(*) FROM job_targets WHERE job_id = $1 AND state IN ('failed', 'timed-out')) \
         WHERE id = $1 AND paused_at IS NOT NULL AND cancelled_at IS NULL",
        &[&job_id],
    )
    .await?
        > 0;
    if resumed {
        execute(
            tx,
            "UPDATE job_targets SET detail = 'held until the rollout releases it' WHERE job_id = $1 AND state = 'held'",
            &[&job_id],
        )
        .await?;
    }
    Ok(Some(resumed))
}
