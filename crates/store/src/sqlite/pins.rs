//! Firmware pins on SQLite: each pin has a standing job; applying the pins gives phones that run
//! another version a target in it.

use opendls_engine::{JobKind, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::jobs::ACTIVE;
use super::rollouts::UNFINISHED;
use super::to_json;
use crate::StoreResult;
use crate::jobs::TargetSelector;
use crate::pins::{FirmwarePin, NewPin, PinLimits, STANDING, wants_pinned_version};

const COLUMNS: &str = "model, group_name, file_id, version, allow_downgrade, job_id, set_at";

fn pin_of(row: &Row<'_>) -> rusqlite::Result<FirmwarePin> {
    let group: String = row.get(1)?;
    Ok(FirmwarePin {
        model: row.get(0)?,
        group: (!group.is_empty()).then_some(group),
        file_id: row.get(2)?,
        version: row.get(3)?,
        allow_downgrade: row.get(4)?,
        job_id: row.get(5)?,
        set_at: row.get(6)?,
    })
}

pub(super) fn pins(connection: &Connection) -> StoreResult<Vec<FirmwarePin>> {
    let sql = format!("SELECT {COLUMNS} FROM firmware_pins ORDER BY model, group_name");
    Ok(connection.prepare_cached(&sql)?.query_map([], pin_of)?.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Cancels a pin's standing job.
fn end_job(tx: &Transaction<'_>, job_id: i64, now: Timestamp, why: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE jobs SET cancelled_at = COALESCE(cancelled_at, ?2) WHERE id = ?1",
        params![job_id, now],
    )?;
    let sql = format!(
        "UPDATE job_targets SET state = 'cancelled', updated_at = ?2, finished_at = ?2, detail = ?3 \
         WHERE job_id = ?1 AND state IN {UNFINISHED}"
    );
    tx.execute(&sql, params![job_id, now, why])?;
    Ok(())
}

pub(super) fn remove(
    tx: &Transaction<'_>,
    model: &str,
    group: Option<&str>,
    now: Timestamp,
    why: &str,
) -> StoreResult<Option<FirmwarePin>> {
    let sql = format!("DELETE FROM firmware_pins WHERE model = ?1 AND group_name = ?2 RETURNING {COLUMNS}");
    let removed = tx.query_row(&sql, params![model, group.unwrap_or_default()], pin_of).optional()?;
    if let Some(pin) = &removed {
        end_job(tx, pin.job_id, now, why)?;
    }
    Ok(removed)
}

pub(super) fn set(tx: &Transaction<'_>, pin: NewPin, now: Timestamp) -> StoreResult<FirmwarePin> {
    remove(tx, &pin.model, pin.group.as_deref(), now, "the firmware pin changed")?;
    let version = pin.image.version.clone().unwrap_or_default();
    let file_id = pin.image.file_id;
    let kind =
        JobKind::DeployFirmware { image: pin.image, allow_downgrade: pin.allow_downgrade, immediate: false };
    let targets = TargetSelector::Query { device_type: Some(pin.model.clone()), software_version: None };
    // Contact-me on: the model's phones that run another version are called in as the limit on
    // deployments in flight allows; one that starts up while its target waits gets the image
    // in that interaction (as the DLS's automatic software deployment does).
    tx.execute(
        "INSERT INTO jobs (kind, targets, contact_me, created_at, give_up_at) VALUES (?1, ?2, 1, ?3, ?4)",
        params![to_json(&kind)?, to_json(&targets)?, now, STANDING],
    )?;
    let job_id = tx.last_insert_rowid();
    tx.execute("INSERT INTO job_files (job_id, file_id) VALUES (?1, ?2)", params![job_id, file_id])?;
    let group = pin.group.clone().unwrap_or_default();
    tx.execute(
        "INSERT INTO firmware_pins (model, group_name, job_id, file_id, version, allow_downgrade, set_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![pin.model, group, job_id, file_id, version, pin.allow_downgrade, now],
    )?;
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

/// Gives phones that run another version than their pin a target in its job. Phones newer
/// than the pin are left alone unless it allows a downgrade; a phone whose pinned deployment
/// failed waits out the hold-off; a group's pin wins over its model's pin.
pub(super) fn apply(tx: &Transaction<'_>, now: Timestamp, limits: PinLimits) -> StoreResult<u32> {
    let in_flight_sql = format!(
        "SELECT COUNT(*) FROM job_targets t JOIN firmware_pins p ON p.job_id = t.job_id WHERE t.state IN {ACTIVE}"
    );
    let in_flight: u32 = tx.query_row(&in_flight_sql, [], |row| row.get(0))?;
    let mut budget = limits.max_concurrent.saturating_sub(in_flight);
    let mut added = 0;
    // Group pins first: they win for their phones.
    let mut pins = pins(tx)?;
    pins.sort_by_key(|pin| pin.group.is_none());
    for pin in pins {
        if budget == 0 {
            break;
        }
        // An administrator who cancels a pin's job stops the pin (until it is set again).
        let cancelled: Option<Timestamp> =
            tx.query_row("SELECT cancelled_at FROM jobs WHERE id = ?1", params![pin.job_id], |row| {
                row.get(0)
            })?;
        if cancelled.is_none() {
            let given = target_pin(tx, &pin, now, limits.hold_off_secs, budget)?;
            budget -= given;
            added += given;
        }
    }
    Ok(added)
}

/// Gives up to `budget` phones of one pin a target in its job; returns how many.
fn target_pin(
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
        let page = candidates(tx, pin, now - hold_off, &after)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (mac, running) in page.into_iter().filter(|(_, running)| wants_pinned_version(pin, running)) {
            if given == budget {
                break;
            }
            let detail = format!("the phone runs {running}; the pin for {} wants {}", pin.model, pin.version);
            tx.prepare_cached(
                "INSERT INTO job_targets (job_id, mac, state, updated_at, detail) VALUES (?1, ?2, 'queued', ?3, ?4) \
                 ON CONFLICT (job_id, mac) DO UPDATE SET state = 'queued', updated_at = ?3, finished_at = NULL, \
                 detail = ?4, phase = NULL, read_result = NULL",
            )?
            .execute(params![pin.job_id, mac, now, detail])?;
            given += 1;
        }
    }
    Ok(given)
}

/// Devices of a pin's model (and group) that run another version and have no target in its job
/// still to do or held off, nor an unfinished target of another firmware deployment (an
/// administrator's job or another pin goes first), with the version they run.
fn candidates(
    tx: &Connection,
    pin: &FirmwarePin,
    failed_before: Timestamp,
    after_mac: &str,
) -> StoreResult<Vec<(String, String)>> {
    let sql = format!(
        "SELECT d.mac, d.software_version FROM devices d \
         LEFT JOIN job_targets t ON t.job_id = ?1 AND t.mac = d.mac \
         WHERE d.mac > ?6 AND lower(d.device_type) GLOB lower(?2) AND (?3 = '' OR d.group_name = ?3) \
         AND d.software_version IS NOT NULL AND d.software_version != ?4 \
         AND (t.state IS NULL OR t.state IN ('done', 'cancelled') \
              OR (t.state IN ('failed', 'timed-out') AND t.finished_at <= ?5)) \
         AND (?3 != '' OR NOT EXISTS (SELECT 1 FROM firmware_pins g WHERE g.group_name != '' \
              AND g.group_name = d.group_name AND lower(d.device_type) GLOB lower(g.model))) \
         AND NOT EXISTS (SELECT 1 FROM job_targets o JOIN jobs oj ON oj.id = o.job_id \
              WHERE o.mac = d.mac AND o.job_id != ?1 AND o.state IN {UNFINISHED} \
              AND json_extract(oj.kind, '$.kind') = 'deploy-firmware') \
         ORDER BY d.mac LIMIT 500"
    );
    let group = pin.group.clone().unwrap_or_default();
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(params![pin.job_id, pin.model, group, pin.version, failed_before, after_mac], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
