//! [`JobStore`] on SQLite, and the job parts of the phone endpoint's calls.

use opendls_engine::{DeviceTask, JobId, Phase, TaskUpdate, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::rollouts::UNFINISHED;
use super::{SqliteStore, from_json, to_json};
use crate::jobs::{
    ContactCandidate, ContactRecord, ContactSchedule, JobDetail, JobStore, JobSummary, JobTarget, NewJob,
    Stalled, TargetSelector,
};
use crate::{StoreError, StoreResult};

pub(super) use crate::columns::ACTIVE;
use crate::columns::{phase_from, state_from};

/// The device's unfinished work, oldest job first.
/// A device's unfinished job targets (`?1` its MAC).
pub(super) fn device_tasks_query() -> String {
    format!(
        "SELECT t.job_id, j.kind, t.state, j.created_at, t.phase, t.updated_at \
         FROM job_targets t JOIN jobs j ON j.id = t.job_id \
         WHERE t.mac = ?1 AND t.state IN {ACTIVE} ORDER BY t.job_id"
    )
}

pub(super) fn device_tasks(connection: &Connection, mac: &str) -> StoreResult<Vec<DeviceTask>> {
    let rows = connection
        .prepare_cached(&device_tasks_query())?
        .query_map(params![mac], |row| {
            Ok((
                (row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get(3)?),
                (row.get::<_, Option<String>>(4)?, row.get(5)?),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|((job_id, kind, state, created_at), (phase, updated_at))| {
            Ok(DeviceTask {
                job_id,
                kind: from_json(&kind)?,
                state: state_from(&state)?,
                created_at,
                phase: phase_from(phase.as_deref())?,
                updated_at,
            })
        })
        .collect()
}

/// Applies the engine's target updates. A finished target is never changed again, and an update
/// that claims work (its action is in the reply) for a target finished meanwhile refuses the
/// whole decision: the phone must not be sent work that was cancelled or already done.
pub(super) fn apply_task_updates(
    tx: &Transaction<'_>,
    updates: &[TaskUpdate],
    now: Timestamp,
) -> StoreResult<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE job_targets SET state = ?1, detail = ?2, updated_at = ?3, \
         finished_at = CASE WHEN ?4 THEN ?3 ELSE NULL END, read_result = COALESCE(?7, read_result), \
         phase = ?8 WHERE job_id = ?5 AND mac = ?6 AND state IN {ACTIVE}"
    );
    let mut update = tx.prepare_cached(&sql)?;
    for change in updates {
        let read = change.read.as_ref().map(to_json).transpose()?;
        let changed = update.execute(params![
            change.state.as_str(),
            change.detail,
            now,
            change.state.is_final(),
            change.job_id,
            change.mac,
            read,
            change.phase.map(Phase::as_str)
        ])?;
        if changed == 0 && change.claims {
            return Err(StoreError::Conflict(format!(
                "job {} on {} was finished meanwhile",
                change.job_id, change.mac
            )));
        }
    }
    Ok(())
}

/// A phone called in by itself: contact-me back-off starts afresh.
pub(super) fn reset_contact_attempts(tx: &Transaction<'_>, mac: &str) -> StoreResult<()> {
    tx.prepare_cached("UPDATE contact_schedule SET attempts = 0 WHERE mac = ?1 AND attempts > 0")?
        .execute(params![mac])?;
    Ok(())
}

/// SQL condition and parameters choosing the devices of a selector.
fn selector_condition(selector: &TargetSelector) -> (String, Vec<String>) {
    match selector {
        TargetSelector::Devices { macs } => {
            let marks = vec!["?"; macs.len()].join(", ");
            (format!("mac IN ({marks})"), macs.clone())
        }
        TargetSelector::Group { name } => (super::member_of("", "?"), vec![name.clone(), name.clone()]),
        TargetSelector::Query { device_type, software_version } => {
            let mut conditions = vec!["1".to_owned()];
            let mut values = Vec::new();
            for (column, pattern) in [("device_type", device_type), ("software_version", software_version)] {
                if let Some(pattern) = pattern {
                    // `--model 'openstage 6*'` finds "OpenStage 60": wildcards, any case.
                    conditions.push(format!("lower({column}) GLOB lower(?)"));
                    values.push(pattern.clone());
                }
            }
            (conditions.join(" AND "), values)
        }
        TargetSelector::All => ("1".into(), Vec::new()),
    }
}

fn summaries(connection: &Connection, condition: &str, value: i64) -> StoreResult<Vec<JobSummary>> {
    let sql = format!(
        "SELECT id, kind, targets, contact_me, created_at, give_up_at, cancelled_at, rollout, paused_at, \
         paused_reason FROM jobs {condition}"
    );
    let rows = connection
        .prepare_cached(&sql)?
        .query_map(params![value], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, bool>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, Option<i64>>(6)?,
                (
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Option<i64>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                ),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut counting = connection
        .prepare_cached("SELECT state, COUNT(*) FROM job_targets WHERE job_id = ?1 GROUP BY state")?;
    let mut jobs = Vec::with_capacity(rows.len());
    for (
        id,
        kind,
        targets,
        contact_me,
        created_at,
        give_up_at,
        cancelled_at,
        (rollout, paused_at, paused_reason),
    ) in rows
    {
        let mut counts = Vec::new();
        for row in
            counting.query_map(params![id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)))?
        {
            let (state, count) = row?;
            counts.push((state_from(&state)?, count));
        }
        jobs.push(JobSummary {
            id,
            kind: from_json(&kind)?,
            targets: from_json(&targets)?,
            contact_me,
            created_at,
            give_up_at,
            cancelled_at,
            rollout: rollout.as_deref().map(from_json).transpose()?,
            paused_at,
            paused_reason,
            counts: opendls_engine::TargetCounts::new(counts),
        });
    }
    Ok(jobs)
}

impl JobStore for SqliteStore {
    async fn create_job(&self, job: &NewJob, now: Timestamp) -> StoreResult<Option<JobSummary>> {
        let job = job.clone();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            tx.execute(
                "INSERT INTO jobs (kind, targets, contact_me, created_at, give_up_at, rollout) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    to_json(&job.kind)?,
                    to_json(&job.targets)?,
                    job.contact_me,
                    now,
                    job.give_up_at,
                    job.rollout.as_ref().map(to_json).transpose()?
                ],
            )?;
            let id = tx.last_insert_rowid();
            for file in job.kind.downloads() {
                tx.execute(
                    "INSERT OR IGNORE INTO job_files (job_id, file_id) VALUES (?1, ?2)",
                    params![id, file.file_id],
                )?;
            }
            let (condition, values) = selector_condition(&job.targets);
            let sql = format!(
                "INSERT INTO job_targets (job_id, mac, state, updated_at) \
                 SELECT {id}, mac, 'queued', {now} FROM devices WHERE {condition}"
            );
            let added = tx.execute(&sql, params_from_iter(values.iter()))?;
            if added == 0 {
                return Ok(None);
            }
            if let Some(rollout) = job.rollout.as_ref().filter(|r| r.is_staged()) {
                super::rollouts::assign_waves(&tx, id, rollout)?;
            }
            let summary = summaries(&tx, "WHERE id = ?1", id)?.pop();
            tx.commit()?;
            Ok(summary)
        })
        .await
    }

    async fn list_jobs(&self, limit: u32) -> StoreResult<Vec<JobSummary>> {
        self.read(move |connection| summaries(connection, "ORDER BY id DESC LIMIT ?1", i64::from(limit)))
            .await
    }

    async fn job(&self, id: JobId) -> StoreResult<Option<JobDetail>> {
        self.read(move |connection| {
            let Some(summary) = summaries(connection, "WHERE id = ?1", id)?.pop() else { return Ok(None) };
            let rows = connection
                .prepare_cached(
                    "SELECT t.mac, t.state, t.updated_at, t.finished_at, t.detail, \
                     s.next_at, s.last_answered_at, s.last_result, t.read_result, t.phase \
                     FROM job_targets t LEFT JOIN contact_schedule s ON s.mac = t.mac \
                     WHERE t.job_id = ?1 ORDER BY t.mac",
                )?
                .query_map(params![id], |row| {
                    let next_at: Option<Timestamp> = row.get(5)?;
                    let schedule = match next_at {
                        Some(next_at) => Some(ContactSchedule {
                            next_at,
                            last_answered_at: row.get(6)?,
                            last_result: row.get(7)?,
                        }),
                        None => None,
                    };
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        schedule,
                        (row.get::<_, Option<String>>(8)?, row.get::<_, Option<String>>(9)?),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let targets = rows
                .into_iter()
                .map(|(mac, state, updated_at, finished_at, detail, schedule, (read, phase))| {
                    let state = state_from(&state)?;
                    let read = read.as_deref().map(from_json).transpose()?;
                    Ok(JobTarget {
                        mac,
                        state,
                        phase: phase_from(phase.as_deref())?,
                        updated_at,
                        finished_at,
                        detail,
                        read,
                        schedule,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some(JobDetail { summary, targets }))
        })
        .await
    }

    async fn cancel_job(&self, id: JobId, now: Timestamp) -> StoreResult<Option<u32>> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let exists = tx
                .query_row("SELECT 1 FROM jobs WHERE id = ?1", params![id], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            tx.execute(
                "UPDATE jobs SET cancelled_at = COALESCE(cancelled_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            let sql = format!(
                "UPDATE job_targets SET state = 'cancelled', updated_at = ?2, finished_at = ?2, \
                 detail = 'cancelled by an administrator' WHERE job_id = ?1 AND state IN {UNFINISHED}"
            );
            let cancelled = tx.execute(&sql, params![id, now])?;
            tx.commit()?;
            Ok(Some(cancelled as u32))
        })
        .await
    }

    async fn contact_candidates(
        &self,
        now: Timestamp,
        stalled: Stalled,
        limit: u32,
    ) -> StoreResult<Vec<ContactCandidate>> {
        self.read(move |connection| {
            let sql = format!(
                "SELECT t.mac, d.contact_me_uri, d.remote_addr, d.software_version, \
                 MIN(t.state = 'waiting-busy') AS only_busy, MAX(t.updated_at), \
                 COALESCE(s.attempts, 0), s.last_answered_at, \
                 COALESCE(MAX(ds.state IN ('secure', 'awaiting-tan')), 0), d.device_type, d.group_name \
                 FROM job_targets t JOIN jobs j ON j.id = t.job_id JOIN devices d ON d.mac = t.mac \
                 LEFT JOIN contact_schedule s ON s.mac = t.mac \
                 LEFT JOIN device_security ds ON ds.mac = t.mac \
                 WHERE t.state IN {ACTIVE} AND j.contact_me = 1 \
                 AND (t.state != 'running' OR t.updated_at < CASE t.phase WHEN 'downloading' THEN ?4 ELSE ?2 END) \
                 AND (s.next_at IS NULL OR s.next_at <= ?1) \
                 GROUP BY t.mac ORDER BY COALESCE(MAX(s.next_at), 0), t.mac LIMIT ?3"
            );
            let candidates = connection
                .prepare_cached(&sql)?
                .query_map(params![now, stalled.before, limit, stalled.downloading_before], |row| {
                    let only_busy: bool = row.get(4)?;
                    Ok(ContactCandidate {
                        mac: row.get(0)?,
                        contact_me_uri: row.get(1)?,
                        remote_addr: row.get(2)?,
                        software_version: row.get(3)?,
                        busy_since: if only_busy { row.get(5)? } else { None },
                        attempts: row.get(6)?,
                        last_answered_at: row.get(7)?,
                        secure: row.get(8)?,
                        device_type: row.get(9)?,
                        group: row.get(10)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(candidates)
        })
        .await
    }

    async fn claim_contact(&self, mac: &str, now: Timestamp, until: Timestamp) -> StoreResult<bool> {
        let mac = mac.to_owned();
        self.write(move |connection| {
            let claimed = connection
                .prepare_cached(crate::columns::CLAIM_CONTACT)?
                .execute(params![mac, until, now])?;
            Ok(claimed > 0)
        })
        .await
    }

    async fn record_contact(&self, record: ContactRecord, now: Timestamp) -> StoreResult<()> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let (sent, answered) = (i64::from(record.sent), record.answered);
            tx.prepare_cached(
                "INSERT INTO contact_schedule (mac, next_at, attempts, last_sent_at, last_answered_at, last_result) \
                 VALUES (?1, ?2, ?3, CASE WHEN ?3 > 0 THEN ?4 END, CASE WHEN ?5 THEN ?4 END, ?6) \
                 ON CONFLICT (mac) DO UPDATE SET next_at = excluded.next_at, attempts = attempts + ?3, \
                 last_sent_at = COALESCE(excluded.last_sent_at, last_sent_at), \
                 last_answered_at = COALESCE(excluded.last_answered_at, last_answered_at), \
                 last_result = excluded.last_result",
            )?
            .execute(params![record.mac, record.next_at, sent, now, answered, record.result])?;
            // The detail tells an administrator why a target waits; only a request sent moves
            // queued targets on.
            let sql = format!(
                "UPDATE job_targets SET state = CASE WHEN ?4 AND state = 'queued' THEN 'contacting' ELSE state END, \
                 detail = ?2, updated_at = CASE WHEN ?4 THEN ?3 ELSE updated_at END \
                 WHERE mac = ?1 AND state IN {ACTIVE} AND (state != 'running' OR ?4) \
                 AND job_id IN (SELECT id FROM jobs WHERE contact_me = 1)"
            );
            tx.prepare_cached(&sql)?.execute(params![record.mac, record.result, now, record.sent])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn expire_targets(&self, now: Timestamp) -> StoreResult<u32> {
        self.write(move |connection| {
            let sql = format!(
                "UPDATE job_targets SET state = 'timed-out', updated_at = ?1, finished_at = ?1, \
                 detail = CASE WHEN detail = '' THEN 'the device did not call in in time' \
                 ELSE 'gave up; last: ' || detail END \
                 WHERE state IN {UNFINISHED} AND job_id IN (SELECT id FROM jobs WHERE give_up_at <= ?1)"
            );
            Ok(connection.execute(&sql, params![now])? as u32)
        })
        .await
    }

    async fn advance_rollouts(&self, now: Timestamp) -> StoreResult<Vec<crate::RolloutStep>> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let steps = super::rollouts::advance(&tx, now)?;
            tx.commit()?;
            Ok(steps)
        })
        .await
    }

    async fn pause_job(&self, id: JobId, now: Timestamp, reason: String) -> StoreResult<Option<bool>> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let paused = super::rollouts::pause(&tx, id, now, &reason)?;
            tx.commit()?;
            Ok(paused)
        })
        .await
    }

    async fn resume_job(&self, id: JobId) -> StoreResult<Option<bool>> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let resumed = super::rollouts::resume(&tx, id)?;
            tx.commit()?;
            Ok(resumed)
        })
        .await
    }

    async fn set_firmware_pin(&self, pin: crate::NewPin, now: Timestamp) -> StoreResult<crate::FirmwarePin> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let pin = super::pins::set(&tx, pin, now)?;
            tx.commit()?;
            Ok(pin)
        })
        .await
    }

    async fn firmware_pins(&self) -> StoreResult<Vec<crate::FirmwarePin>> {
        self.read(super::pins::pins).await
    }

    async fn remove_firmware_pin(
        &self,
        model: String,
        group: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Option<crate::FirmwarePin>> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let removed =
                super::pins::remove(&tx, &model, group.as_deref(), now, "the firmware pin was removed")?;
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn apply_firmware_pins(&self, now: Timestamp, limits: crate::PinLimits) -> StoreResult<u32> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let added = super::pins::apply(&tx, now, limits)?;
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn pending_work(&self, mac: &str) -> StoreResult<bool> {
        let mac = mac.to_owned();
        self.read(move |connection| {
            let sql = format!(
                "SELECT 1 FROM job_targets t JOIN jobs j ON j.id = t.job_id \
                 WHERE t.mac = ?1 AND t.state IN {ACTIVE} AND j.contact_me = 1 LIMIT 1"
            );
            Ok(connection.prepare_cached(&sql)?.query_row(params![mac], |_| Ok(())).optional()?.is_some())
        })
        .await
    }

    async fn phone_addresses(&self) -> StoreResult<Vec<String>> {
        self.read(|connection| {
            let addresses = connection
                .prepare_cached("SELECT DISTINCT remote_addr FROM devices WHERE remote_addr IS NOT NULL")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(addresses)
        })
        .await
    }
}

/// Kinds as stored; kept here so a change of the engine's serde shape shows up in one place.
#[cfg(test)]
mod tests {
    use super::*;
    use opendls_engine::JobKind;

    #[test]
    fn kinds_are_stored_as_tagged_json() {
        let kind = JobKind::ReadItems { items: vec![opendls_engine::ItemKey::new("reg-addr", None)] };
        assert_eq!(
            to_json(&kind).unwrap(),
            r#"{"kind":"read-items","items":[{"name":"reg-addr","index":null}]}"#
        );
        assert_eq!(from_json::<JobKind>(r#"{"kind":"restart"}"#).unwrap(), JobKind::Restart);
    }
}
