//! Firmware pins on PostgreSQL: each pin has a standing job; applying the pins gives phones that
//! run another version a target in it.

use deadpool_postgres::{GenericClient, Transaction};
use opendls_engine::{JobKind, Timestamp};
use tokio_postgres::Row;

use super::{execute, glob, query, query_opt};
use crate::columns::{ACTIVE, UNFINISHED, to_json};
use crate::jobs::TargetSelector;
use crate::pins::{FirmwarePin, NewPin, PinLimits, STANDING, wants_pinned_version};
use crate::{StoreError, StoreResult};

const COLUMNS: &str = "model, group_name, file_id, version, allow_downgrade, job_id, set_at";

fn pin_of(row: &Row) -> StoreResult<FirmwarePin> {
    let group: String = row.try_get(1)?;
    Ok(FirmwarePin {
        model: row.try_get(0)?,
        group: (!group.is_empty()).then_some(group),
        file_id: row.try_get(2)?,
        version: row.try_get(3)?,
        allow_downgrade: row.try_get(4)?,
        job_id: row.try_get(5)?,
        set_at: row.try_get(6)?,
    })
}

pub(super) async fn pins(db: &impl GenericClient) -> StoreResult<Vec<FirmwarePin>> {
    let sql = format!("SELECT {COLUMNS} FROM firmware_pins ORDER BY model, group_name");
    query(db, &sql, &[]).await?.iter().map(pin_of).collect()
}

/// Cancels a pin's standing job.
async fn end_job(tx: &Transaction<'_>, job_id: i64, now: Timestamp, why: &str) -> StoreResult<()> {
    execute(tx, "UPDATE jobs SET cancelled_at = COALESCE(cancelled_at, $2) WHERE id = $1", &[&job_id, &now])
        .await?;
    let sql = format!(
        "UPDATE job_targets SET state = 'cancelled', updated_at = $2, finished_at = $2, detail = $3 \
         WHERE job_id = $1 AND state IN {UNFINISHED}"
    );
    execute(tx, &sql, &[&job_id, &now, &why]).await?;
    Ok(())
}

pub(super) async fn remove(
    tx: &Transaction<'_>,
    model: &str,
    group: Option<&str>,
    now: Timestamp,
    why: &str,
) -> StoreResult<Option<FirmwarePin>> {
    let sql = format!("DELETE FROM firmware_pins WHERE model = $1 AND group_name = $2 RETURNING {COLUMNS}");
    let removed =
        query_opt(tx, &sql, &[&model, &group.unwrap_or_default()]).await?.map(|r| pin_of(&r)).transpose()?;
    if let Some(pin) = &removed {
        end_job(tx, pin.job_id, now, why).await?;
    }
    Ok(removed)
}

pub(super) async fn set(tx: &Transaction<'_>, pin: NewPin, now: Timestamp) -> StoreResult<FirmwarePin> {
    remove(tx, &pin.model, pin.group.as_deref(), now, "the firmware pin changed").await?;
    let version = pin.image.version.clone().unwrap_or_default();
    let file_id = pin.image.file_id;
    let kind =
        JobKind::DeployFirmware { image: pin.image, allow_downgrade: pin.allow_downgrade, immediate: false };
    let targets = TargetSelector::Query { device_type: Some(pin.model.clone()), software_version: None };
    let row = query_opt(
        tx,
        "INSERT INTO jobs (kind, targets, contact_me, created_at, give_up_at) VALUES ($1, $2, TRUE, $3, $4) \
         RETURNING id",
        &[&to_json(&kind)?, &to_json(&targets)?, &now, &STANDING],
    )
    .await?
    .ok_or_else(|| StoreError::Internal("an insert returned no job number".into()))?;
    let job_id: i64 = row.try_get(0)?;
    execute(tx, "INSERT INTO job_files (job_id, file_id) VALUES ($1, $2)", &[&job_id, &file_id]).await?;
    let group = pin.group.clone().unwrap_or_default();
    execute(
        tx,
        "INSERT INTO firmware_pins (model, group_name, job_id, file_id, version, allow_downgrade, set_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&pin.model, &group, &job_id, &file_id, &version, &pin.allow_downgrade, &now],
    )
    .await?;
    Ok(FirmwarePin {
        model: pin.model,
        group: pin.group,
        file_id,
        version,
        allow_downgrade: pin.allow_downgrade,
        job_id,
        set_at: now,
    })
}

/// Gives phones that run another version than their pin a target in its job (see the SQLite
/// backend for the rules; both share [`wants_pinned_version`]).
pub(super) async fn apply(tx: &Transaction<'_>, now: Timestamp, limits: PinLimits) -> StoreResult<u32> {
    let in_flight_sql = format!(
        "SELECT COUNT(*) FROM job_targets t JOIN firmware_pins p ON p.job_id = t.job_id WHERE t.state IN {ACTIVE}"
    );
    let in_flight = super::count(&query(tx, &in_flight_sql, &[]).await?[0], 0)?;
    let mut budget = limits.max_concurrent.saturating_sub(u32::try_from(in_flight).unwrap_or(u32::MAX));
    let mut added = 0;
    // Group pins first: they win for their phones.
    let mut pins = pins(tx).await?;
    pins.sort_by_key(|pin| pin.group.is_none());
    for pin in pins {
        if budget == 0 {
            break;
        }
        // An administrator who cancels a pin's job stops the pin (until it is set again).
        let cancelled: Option<Timestamp> =
            match query_opt(tx, "SELECT cancelled_at FROM jobs WHERE id = $1", &[&pin.job_id]).await? {
                Some(row) => row.try_get(0)?,
                None => None,
            };
        if cancelled.is_none() {
            let given = target_pin(tx, &pin, now, limits.hold_off_secs, budget).await?;
            budget -= given;
            added += given;
        }
    }
    Ok(added)
}

/// Gives up to `budget` phones of one pin a target in its job; returns how many.
async fn target_pin(
    tx: &Transaction<'_>,
    pin: &FirmwarePin,
    now: Timestamp,
    hold_off: i64,
    budget: u32,
) -> StoreResult<u32> {
    let mut given = 0;
    // Page by MAC: phones skipped here (newer, unreadable version) never crowd out the rest.
    let mut after = String::new();
    while given < budget {
        let page = candidates(tx, pin, now - hold_off, &after).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (mac, running) in page.into_iter().filter(|(_, running)| wants_pinned_version(pin, running)) {
            if given == budget {
                break;
            }
            let detail = format!("the phone runs {running}; the pin for {} wants {}", pin.model, pin.version);
            execute(
                tx,
                "INSERT INTO job_targets (job_id, mac, state, updated_at, detail) VALUES ($1, $2, 'queued', $3, $4) \
                 ON CONFLICT (job_id, mac) DO UPDATE SET state = 'queued', updated_at = $3, finished_at = NULL, \
                 detail = $4, phase = NULL, read_result = NULL",
                &[&pin.job_id, &mac, &now, &detail],
            )
            .await?;
            given += 1;
        }
    }
    Ok(given)
}

/// Devices of a pin's model (and group) that run another version and have no target in its job
/// still to do or held off, nor an unfinished target of another firmware deployment, with the
/// version they run.
async fn candidates(
    tx: &Transaction<'_>,
    pin: &FirmwarePin,
    failed_before: Timestamp,
    after_mac: &str,
) -> StoreResult<Vec<(String, String)>> {
    let sql = format!(
        "SELECT d.mac, d.software_version FROM devices d \
         LEFT JOIN job_targets t ON t.job_id = $1 AND t.mac = d.mac \
         WHERE d.mac > $6 AND {} AND ($3 = '' OR d.group_name = $3) \
         AND d.software_version IS NOT NULL AND d.software_version != $4 \
         AND (t.state IS NULL OR t.state IN ('done', 'cancelled') \
              OR (t.state IN ('failed', 'timed-out') AND t.finished_at <= $5)) \
         AND ($3 != '' OR NOT EXISTS (SELECT 1 FROM firmware_pins g WHERE g.group_name != '' \
              AND g.group_name = d.group_name AND {})) \
         AND NOT EXISTS (SELECT 1 FROM job_targets o JOIN jobs oj ON oj.id = o.job_id \
              WHERE o.mac = d.mac AND o.job_id != $1 AND o.state IN {UNFINISHED} \
              AND (oj.kind::jsonb ->> 'kind') = 'deploy-firmware') \
         ORDER BY d.mac LIMIT 500",
        glob("d.device_type", "$2"),
        glob("d.device_type", "g.model"),
    );
    let group = pin.group.clone().unwrap_or_default();
    query(tx, &sql, &[&pin.job_id, &pin.model, &group, &pin.version, &failed_before, &after_mac])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}
