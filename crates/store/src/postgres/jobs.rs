//! [`JobStore`] on PostgreSQL, and the job parts of the phone endpoint's calls.

use deadpool_postgres::GenericClient;
use opendls_engine::{DeviceTask, JobId, Phase, TaskUpdate, Timestamp};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::batch::{Batch, owned};
use super::{PostgresStore, execute, exists, glob, member_of, query, query_opt};
use crate::columns::{ACTIVE, UNFINISHED, from_json, phase_from, state_from, to_json};
use crate::jobs::{
    ContactCandidate, ContactRecord, ContactSchedule, JobDetail, JobStore, JobSummary, JobTarget, NewJob,
    Stalled, TargetSelector,
};
use crate::{StoreError, StoreResult};

/// The device's unfinished work, oldest job first.
pub(super) async fn device_tasks(db: &impl GenericClient, mac: &str) -> StoreResult<Vec<DeviceTask>> {
    let sql = format!(
        "SELECT t.job_id, j.kind, t.state, j.created_at, t.phase, t.updated_at \
         FROM job_targets t JOIN jobs j ON j.id = t.job_id \
         WHERE t.mac = $1 AND t.state IN {ACTIVE} ORDER BY t.job_id"
    );
    query(db, &sql, &[&mac])
        .await?
        .iter()
        .map(|row| {
            Ok(DeviceTask {
                job_id: row.try_get(0)?,
                kind: from_json(row.try_get(1)?)?,
                state: state_from(row.try_get(2)?)?,
                created_at: row.try_get(3)?,
                phase: phase_from(row.try_get(4)?)?,
                updated_at: row.try_get(5)?,
            })
        })
        .collect()
}

/// A decision's changes to its device's job targets. Only unfinished targets change; a claim
/// on one finished meanwhile (cancelled, or done by another node's interaction with the same
/// phone) refuses the decision.
pub(super) fn task_updates(batch: &mut Batch, updates: &[TaskUpdate], now: Timestamp) -> StoreResult<()> {
    let sql = format!(
        "UPDATE job_targets SET state = $1, detail = $2, updated_at = $3, \
         finished_at = CASE WHEN $4 THEN $3::bigint ELSE NULL END, read_result = COALESCE($7, read_result), \
         phase = $8 WHERE job_id = $5 AND mac = $6 AND state IN {ACTIVE}"
    );
    for change in updates {
        let read = change.read.as_ref().map(to_json).transpose()?;
        let params = owned![
            change.state.as_str(),
            change.detail.clone(),
            now,
            change.state.is_final(),
            change.job_id,
            change.mac.clone(),
            read,
            change.phase.map(Phase::as_str),
        ];
        if change.claims {
            let refusal = format!("job {} on {} was finished meanwhile", change.job_id, change.mac);
            batch.push_claim(&sql, params, refusal);
        } else {
            batch.push(sql.clone(), params);
        }
    }
    Ok(())
}

/// SQL condition choosing the devices of a selector, and its parameters (numbered from `$1`).
fn selector_condition(selector: &TargetSelector) -> (String, Vec<String>) {
    match selector {
        TargetSelector::Devices { .. } => ("mac = ANY($1::text[])".into(), Vec::new()),
        TargetSelector::Group { name } => (member_of("", "$1"), vec![name.clone()]),
        TargetSelector::Query { device_type, software_version } => {
            let mut conditions = vec!["TRUE".to_owned()];
            let mut values = Vec::new();
            for (column, pattern) in [("device_type", device_type), ("software_version", software_version)] {
                if let Some(pattern) = pattern {
                    // `--model 'openstage 6*'` finds "OpenStage 60": wildcards, any case.
                    values.push(pattern.clone());
                    conditions.push(glob(column, &format!("${}", values.len())));
                }
            }
            (conditions.join(" AND "), values)
        }
        TargetSelector::All => ("TRUE".into(), Vec::new()),
    }
}

async fn summaries(db: &impl GenericClient, condition: &str, value: i64) -> StoreResult<Vec<JobSummary>> {
    let sql = format!(
        "SELECT id, kind, targets, contact_me, created_at, give_up_at, cancelled_at, rollout, paused_at, \
         paused_reason FROM jobs {condition}"
    );
    let rows = query(db, &sql, &[&value]).await?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let counted =
            query(db, "SELECT state, COUNT(*) FROM job_targets WHERE job_id = $1 GROUP BY state", &[&id])
                .await?;
        let counts = counted
            .iter()
            .map(|r| {
                Ok((state_from(r.try_get(0)?)?, u32::try_from(r.try_get::<_, i64>(1)?).unwrap_or(u32::MAX)))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let rollout: Option<String> = row.try_get(7)?;
        jobs.push(JobSummary {
            id,
            kind: from_json(row.try_get(1)?)?,
            targets: from_json(row.try_get(2)?)?,
            contact_me: row.try_get(3)?,
            created_at: row.try_get(4)?,
            give_up_at: row.try_get(5)?,
            cancelled_at: row.try_get(6)?,
            rollout: rollout.as_deref().map(from_json).transpose()?,
            paused_at: row.try_get(8)?,
            paused_reason: row.try_get(9)?,
            counts: opendls_engine::TargetCounts::new(counts),
        });
    }
    Ok(jobs)
}

fn target_from_row(row: &Row) -> StoreResult<JobTarget> {
    let next_at: Option<Timestamp> = row.try_get(5)?;
    let schedule = match next_at {
        Some(next_at) => {
            Some(ContactSchedule { next_at, last_answered_at: row.try_get(6)?, last_result: row.try_get(7)? })
        }
        None => None,
    };
    let read: Option<String> = row.try_get(8)?;
    Ok(JobTarget {
        mac: row.try_get(0)?,
        state: state_from(row.try_get(1)?)?,
        phase: phase_from(row.try_get(9)?)?,
        updated_at: row.try_get(2)?,
        finished_at: row.try_get(3)?,
        detail: row.try_get(4)?,
        read: read.as_deref().map(from_json).transpose()?,
        schedule,
    })
}

impl JobStore for PostgresStore {
    async fn create_job(&self, job: &NewJob, now: Timestamp) -> StoreResult<Option<JobSummary>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rollout = job.rollout.as_ref().map(to_json).transpose()?;
        let row = query_opt(
            &tx,
            "INSERT INTO jobs (kind, targets, contact_me, created_at, give_up_at, rollout) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &to_json(&job.kind)?,
                &to_json(&job.targets)?,
                &job.contact_me,
                &now,
                &job.give_up_at,
                &rollout,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("an insert returned no job number".into()))?;
        let id: i64 = row.try_get(0)?;
        for file in job.kind.downloads() {
            execute(
                &tx,
                "INSERT INTO job_files (job_id, file_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, &file.file_id],
            )
            .await?;
        }
        let (condition, values) = selector_condition(&job.targets);
        let sql = format!(
            "INSERT INTO job_targets (job_id, mac, state, updated_at) \
             SELECT {id}, mac, 'queued', {now} FROM devices WHERE {condition}"
        );
        let added = match &job.targets {
            TargetSelector::Devices { macs } => execute(&tx, &sql, &[macs]).await?,
            _ => {
                let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                execute(&tx, &sql, &params).await?
            }
        };
        if added == 0 {
            return Ok(None);
        }
        if let Some(rollout) = job.rollout.as_ref().filter(|r| r.is_staged()) {
            super::rollouts::assign_waves(&tx, id, rollout).await?;
        }
        let summary = summaries(&tx, "WHERE id = $1", id).await?.pop();
        tx.commit().await?;
        Ok(summary)
    }

    async fn list_jobs(&self, limit: u32) -> StoreResult<Vec<JobSummary>> {
        summaries(&self.client().await?, "ORDER BY id DESC LIMIT $1", i64::from(limit)).await
    }

    async fn job(&self, id: JobId) -> StoreResult<Option<JobDetail>> {
        let client = self.client().await?;
        let Some(summary) = summaries(&client, "WHERE id = $1", id).await?.pop() else { return Ok(None) };
        let targets = query(
            &client,
            "SELECT t.mac, t.state, t.updated_at, t.finished_at, t.detail, \
             s.next_at, s.last_answered_at, s.last_result, t.read_result, t.phase \
             FROM job_targets t LEFT JOIN contact_schedule s ON s.mac = t.mac \
             WHERE t.job_id = $1 ORDER BY t.mac",
            &[&id],
        )
        .await?
        .iter()
        .map(target_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(JobDetail { summary, targets }))
    }

    async fn cancel_job(&self, id: JobId, now: Timestamp) -> StoreResult<Option<u32>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !exists(&tx, "SELECT 1 FROM jobs WHERE id = $1", &[&id]).await? {
            return Ok(None);
        }
        execute(&tx, "UPDATE jobs SET cancelled_at = COALESCE(cancelled_at, $2) WHERE id = $1", &[&id, &now])
            .await?;
        let sql = format!(
            "UPDATE job_targets SET state = 'cancelled', updated_at = $2, finished_at = $2, \
             detail = 'cancelled by an administrator' WHERE job_id = $1 AND state IN {UNFINISHED}"
        );
        let cancelled = execute(&tx, &sql, &[&id, &now]).await?;
        tx.commit().await?;
        Ok(Some(cancelled as u32))
    }

    async fn contact_candidates(
        &self,
        now: Timestamp,
        stalled: Stalled,
        limit: u32,
    ) -> StoreResult<Vec<ContactCandidate>> {
        let sql = format!(
            "SELECT t.mac, d.contact_me_uri, d.remote_addr, d.software_version, \
             bool_and(t.state = 'waiting-busy') AS only_busy, MAX(t.updated_at), \
             COALESCE(s.attempts, 0), s.last_answered_at, \
             COALESCE(bool_or(ds.state IN ('secure', 'awaiting-tan')), FALSE), d.device_type, d.group_name \
             FROM job_targets t JOIN jobs j ON j.id = t.job_id JOIN devices d ON d.mac = t.mac \
             LEFT JOIN contact_schedule s ON s.mac = t.mac \
             LEFT JOIN device_security ds ON ds.mac = t.mac \
             WHERE t.state IN {ACTIVE} AND j.contact_me \
             AND (t.state != 'running' OR t.updated_at < CASE t.phase WHEN 'downloading' THEN $4::bigint ELSE $2::bigint END) \
             AND (s.next_at IS NULL OR s.next_at <= $1) \
             GROUP BY t.mac, d.mac, s.mac ORDER BY COALESCE(MAX(s.next_at), 0), t.mac LIMIT $3"
        );
        let params: [&(dyn ToSql + Sync); 4] =
            [&now, &stalled.before, &i64::from(limit), &stalled.downloading_before];
        query(&self.client().await?, &sql, &params)
            .await?
            .iter()
            .map(|row| {
                let only_busy: bool = row.try_get(4)?;
                Ok(ContactCandidate {
                    mac: row.try_get(0)?,
                    contact_me_uri: row.try_get(1)?,
                    remote_addr: row.try_get(2)?,
                    software_version: row.try_get(3)?,
                    busy_since: if only_busy { row.try_get(5)? } else { None },
                    attempts: u32::try_from(row.try_get::<_, i64>(6)?).unwrap_or(u32::MAX),
                    last_answered_at: row.try_get(7)?,
                    secure: row.try_get(8)?,
                    device_type: row.try_get(9)?,
                    group: row.try_get(10)?,
                })
            })
            .collect()
    }

    async fn claim_contact(&self, mac: &str, now: Timestamp, until: Timestamp) -> StoreResult<bool> {
        // Two nodes claiming at once: the second waits for the first's row, then finds it held.
        let claimed =
            execute(&self.client().await?, crate::columns::CLAIM_CONTACT, &[&mac, &until, &now]).await?;
        Ok(claimed > 0)
    }

    async fn record_contact(&self, record: ContactRecord, now: Timestamp) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sent = i64::from(record.sent);
        execute(
            &tx,
            "INSERT INTO contact_schedule (mac, next_at, attempts, last_sent_at, last_answered_at, last_result) \
             VALUES ($1, $2, $3::bigint, CASE WHEN $3::bigint > 0 THEN $4::bigint END, CASE WHEN $5 THEN $4::bigint END, $6) \
             ON CONFLICT (mac) DO UPDATE SET next_at = excluded.next_at, \
             attempts = contact_schedule.attempts + $3::bigint, \
             last_sent_at = COALESCE(excluded.last_sent_at, contact_schedule.last_sent_at), \
             last_answered_at = COALESCE(excluded.last_answered_at, contact_schedule.last_answered_at), \
             last_result = excluded.last_result",
            &[&record.mac, &record.next_at, &sent, &now, &record.answered, &record.result],
        )
        .await?;
        // The detail tells an administrator why a target waits; only a request sent moves
        // queued targets on.
        let sql = format!(
            "UPDATE job_targets SET state = CASE WHEN $4 AND state = 'queued' THEN 'contacting' ELSE state END, \
             detail = $2, updated_at = CASE WHEN $4 THEN $3::bigint ELSE updated_at END \
             WHERE mac = $1 AND state IN {ACTIVE} AND (state != 'running' OR $4) \
             AND job_id IN (SELECT id FROM jobs WHERE contact_me)"
        );
        execute(&tx, &sql, &[&record.mac, &record.result, &now, &record.sent]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn expire_targets(&self, now: Timestamp) -> StoreResult<u32> {
        let sql = format!(
            "UPDATE job_targets SET state = 'timed-out', updated_at = $1, finished_at = $1, \
             detail = CASE WHEN detail = '' THEN 'the device did not call in in time' \
             ELSE 'gave up; last: ' || detail END \
             WHERE state IN {UNFINISHED} AND job_id IN (SELECT id FROM jobs WHERE give_up_at <= $1)"
        );
        Ok(execute(&self.client().await?, &sql, &[&now]).await? as u32)
    }

    async fn advance_rollouts(&self, now: Timestamp) -> StoreResult<Vec<crate::RolloutStep>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let steps = super::rollouts::advance(&tx, now).await?;
        tx.commit().await?;
        Ok(steps)
    }

    async fn pause_job(&self, id: JobId, now: Timestamp, reason: String) -> StoreResult<Option<bool>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let paused = super::rollouts::pause(&tx, id, now, &reason).await?;
        tx.commit().await?;
        Ok(paused)
    }

    async fn resume_job(&self, id: JobId) -> StoreResult<Option<bool>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let resumed = super::rollouts::resume(&tx, id).await?;
        tx.commit().await?;
        Ok(resumed)
    }

    async fn set_firmware_pin(&self, pin: crate::NewPin, now: Timestamp) -> StoreResult<crate::FirmwarePin> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let pin = super::pins::set(&tx, pin, now).await?;
        tx.commit().await?;
        Ok(pin)
    }

    async fn firmware_pins(&self) -> StoreResult<Vec<crate::FirmwarePin>> {
        super::pins::pins(&self.client().await?).await
    }

    async fn remove_firmware_pin(
        &self,
        model: String,
        group: Option<String>,
        now: Timestamp,
    ) -> StoreResult<Option<crate::FirmwarePin>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let removed =
            super::pins::remove(&tx, &model, group.as_deref(), now, "the firmware pin was removed").await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn apply_firmware_pins(&self, now: Timestamp, limits: crate::PinLimits) -> StoreResult<u32> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nodes apply pins one at a time: the limit on deployments in flight is fleet-wide.
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&PIN_LOCK]).await?;
        let added = super::pins::apply(&tx, now, limits).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn pending_work(&self, mac: &str) -> StoreResult<bool> {
        let sql = format!(
            "SELECT 1 FROM job_targets t JOIN jobs j ON j.id = t.job_id \
             WHERE t.mac = $1 AND t.state IN {ACTIVE} AND j.contact_me LIMIT 1"
        );
        exists(&self.client().await?, &sql, &[&mac]).await
    }

    async fn phone_addresses(&self) -> StoreResult<Vec<String>> {
        query(
            &self.client().await?,
            "SELECT DISTINCT remote_addr FROM devices WHERE remote_addr IS NOT NULL",
            &[],
        )
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }
}

/// The advisory lock a node holds while it applies firmware pins.
const PIN_LOCK: i64 = 0x6f70_656e_646c_7302;
