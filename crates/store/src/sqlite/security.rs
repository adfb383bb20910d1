//! Secure Mode tables on SQLite.

use std::str::FromStr;

use opendls_engine::{
    CertificateChange, CertificateRecord, CertificateState, Decision, DeviceSecurity, Scope, SecurityMode,
    SecurityState, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{SqliteStore, scope_columns, scope_from_columns};
use crate::secrets::SecretKeys;
use crate::security::{CertificateDetail, PinScope, SecurityStore, SecurityView};
use crate::{StoreError, StoreResult};

fn corrupt(e: String) -> StoreError {
    StoreError::Corrupt(e)
}

/// The mode in force for a device and its record.
pub(super) fn device_security(
    connection: &Connection,
    mac: &str,
    group: &str,
) -> StoreResult<DeviceSecurityContext> {
    let (mode, _) = effective_mode(connection, mac, group)?;
    Ok((mode, load_record(connection, mac)?.unwrap_or_default()))
}

/// The device's security record as the engine takes it, with the mode in force.
type DeviceSecurityContext = (SecurityMode, opendls_engine::DeviceSecurity);

pub(super) fn effective_mode(
    connection: &Connection,
    mac: &str,
    group: &str,
) -> StoreResult<(SecurityMode, Option<Scope>)> {
    let rows = connection
        .prepare_cached(
            "SELECT scope, scope_key, mode FROM security_modes \
             WHERE scope = 'global' OR (scope = 'group' AND scope_key = ?1) OR (scope = 'device' AND scope_key = ?2)",
        )?
        .query_map(params![group, mac], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    crate::columns::effective_mode(rows)
}

fn load_record(connection: &Connection, mac: &str) -> StoreResult<Option<DeviceSecurity>> {
    let row = connection
        .prepare_cached(
            "SELECT state, pin_bootstrap, pending_tan, certificate_serial, since, detail FROM device_security WHERE mac = ?1",
        )?
        .query_row(params![mac], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Timestamp>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .optional()?;
    let Some((state, pin_bootstrap, pending_tan, certificate_serial, since, detail)) = row else {
        return Ok(None);
    };
    Ok(Some(DeviceSecurity {
        state: SecurityState::from_str(&state).map_err(corrupt)?,
        pin_bootstrap,
        pending_tan,
        certificate_serial,
        since,
        detail,
    }))
}

fn save_record(connection: &Connection, mac: &str, record: &DeviceSecurity) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO device_security (mac, state, pin_bootstrap, pending_tan, certificate_serial, since, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (mac) DO UPDATE SET state = excluded.state, \
             pin_bootstrap = excluded.pin_bootstrap, pending_tan = excluded.pending_tan, \
             certificate_serial = excluded.certificate_serial, since = excluded.since, detail = excluded.detail",
        )?
        .execute(params![
            mac,
            record.state.as_str(),
            record.pin_bootstrap,
            record.pending_tan,
            record.certificate_serial,
            record.since,
            record.detail
        ])?;
    Ok(())
}

const CERTIFICATE_COLUMNS: &str =
    "serial, fingerprint, mac, not_before, not_after, state, issued_at, ended_at, ended_reason";

/// A certificate row: the record (its state still to parse), the state text, issued, ended,
/// and why it ended.
type CertificateRow = (CertificateRecord, String, Timestamp, Option<Timestamp>, Option<String>);

fn certificate_from_row(row: &Row<'_>) -> rusqlite::Result<CertificateRow> {
    Ok((
        CertificateRecord {
            serial: row.get(0)?,
            fingerprint: row.get(1)?,
            mac: row.get(2)?,
            not_before: row.get(3)?,
            not_after: row.get(4)?,
            state: CertificateState::Issued,
        },
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn certificate_detail(
    (mut record, state, issued_at, ended_at, ended_reason): CertificateRow,
) -> StoreResult<CertificateDetail> {
    record.state = CertificateState::from_str(&state).map_err(corrupt)?;
    Ok(CertificateDetail { record, issued_at, ended_at, ended_reason })
}

pub(super) fn certificate_by_fingerprint(
    connection: &Connection,
    fingerprint: &str,
) -> StoreResult<Option<CertificateRecord>> {
    let sql = format!("SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE fingerprint = ?1");
    let row =
        connection.prepare_cached(&sql)?.query_row(params![fingerprint], certificate_from_row).optional()?;
    row.map(|row| certificate_detail(row).map(|d| d.record)).transpose()
}

/// Ends issued or active certificates (never brings a revoked one back).
fn end_certificates(
    connection: &Connection,
    filter: &str,
    key: &str,
    state: CertificateState,
    reason: &str,
    now: Timestamp,
) -> StoreResult<usize> {
    let sql = format!(
        "UPDATE certificates SET state = ?1, ended_at = ?2, ended_reason = ?3 \
         WHERE {filter} = ?4 AND state IN ('issued', 'active')"
    );
    Ok(connection.prepare_cached(&sql)?.execute(params![state.as_str(), now, reason, key])?)
}

/// Persists a decision's Secure Mode changes.
pub(super) fn apply_security(tx: &Transaction<'_>, decision: &Decision, now: Timestamp) -> StoreResult<()> {
    if let Some(record) = &decision.security {
        let mac = decision
            .device
            .as_ref()
            .map(|d| d.mac.as_str())
            .ok_or_else(|| StoreError::Internal("a security change without its device".into()))?;
        save_record(tx, mac, record)?;
    }
    for change in &decision.certificates {
        match change {
            CertificateChange::Issued(record) => {
                tx.prepare_cached(
                    "INSERT INTO certificates (serial, fingerprint, mac, not_before, not_after, state, issued_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'issued', ?6)",
                )?
                .execute(params![record.serial, record.fingerprint, record.mac, record.not_before, record.not_after, now])?;
            }
            CertificateChange::Activated { serial, mac } => {
                let reason = format!("replaced by certificate {serial}");
                tx.prepare_cached(
                    "UPDATE certificates SET state = 'superseded', ended_at = ?1, ended_reason = ?2 \
                     WHERE mac = ?3 AND state = 'active' AND serial <> ?4",
                )?
                .execute(params![now, reason, mac, serial])?;
                tx.prepare_cached(
                    "UPDATE certificates SET state = 'active' WHERE serial = ?1 AND state = 'issued'",
                )?
                .execute(params![serial])?;
            }
            CertificateChange::Ended { serial, state, reason } => {
                end_certificates(tx, "serial", serial, *state, reason, now)?;
            }
        }
    }
    Ok(())
}

pub(super) fn bootstrap_pin(
    connection: &Connection,
    mac: &str,
    first_contact_group: Option<&str>,
    secrets: &SecretKeys,
) -> StoreResult<Option<String>> {
    let stored: Option<Option<String>> = connection
        .prepare_cached("SELECT group_name FROM devices WHERE mac = ?1")?
        .query_row(params![mac], |row| row.get(0))
        .optional()?;
    // A device not stored yet is being bound: its prepared group counts.
    let group = match stored {
        Some(group) => group,
        None => first_contact_group.map(str::to_owned),
    };
    let mut query = connection.prepare_cached("SELECT pin FROM pins WHERE scope = ?1 AND scope_key = ?2")?;
    if let Some(pin) = query.query_row(params!["device", mac], |row| row.get::<_, String>(0)).optional()? {
        return Ok(Some(secrets.open(&pin)?));
    }
    let pin = match group {
        Some(group) => query.query_row(params!["group", group], |row| row.get::<_, String>(0)).optional()?,
        None => None,
    };
    pin.map(|pin| secrets.open(&pin)).transpose()
}

impl SecurityStore for SqliteStore {
    async fn set_security_mode(&self, scope: &Scope, mode: Option<SecurityMode>) -> StoreResult<()> {
        let scope = scope.clone();
        self.write(move |connection| {
            let (scope, key) = scope_columns(&scope);
            match mode {
                Some(mode) => connection.execute(
                    "INSERT INTO security_modes (scope, scope_key, mode) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (scope, scope_key) DO UPDATE SET mode = excluded.mode",
                    params![scope, key, mode.as_str()],
                )?,
                None => connection.execute(
                    "DELETE FROM security_modes WHERE scope = ?1 AND scope_key = ?2",
                    params![scope, key],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn security_modes(&self) -> StoreResult<Vec<(Scope, SecurityMode)>> {
        self.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT scope, scope_key, mode FROM security_modes ORDER BY scope, scope_key",
                )?
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
                })?
                .map(|row| {
                    let (scope, key, mode) = row?;
                    Ok((scope_from_columns(&scope, key)?, SecurityMode::from_str(&mode).map_err(corrupt)?))
                })
                .collect()
        })
        .await
    }

    async fn security_view(&self, mac: &str) -> StoreResult<Option<SecurityView>> {
        let mac = mac.to_owned();
        self.read(move |connection| {
            let group: Option<Option<String>> = connection
                .prepare_cached("SELECT group_name FROM devices WHERE mac = ?1")?
                .query_row(params![mac], |row| row.get(0))
                .optional()?;
            let Some(group) = group else { return Ok(None) };
            let (desired, desired_from) = effective_mode(connection, &mac, group.as_deref().unwrap_or_default())?;
            let record = load_record(connection, &mac)?;
            let sql = format!("SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE mac = ?1 ORDER BY issued_at DESC, rowid DESC");
            let certificates = connection
                .prepare_cached(&sql)?
                .query_map(params![mac], certificate_from_row)?
                .map(|row| certificate_detail(row?))
                .collect::<StoreResult<Vec<_>>>()?;
            let has_pin = |scope: &str, key: &str| -> StoreResult<bool> {
                Ok(connection
                    .prepare_cached("SELECT 1 FROM pins WHERE scope = ?1 AND scope_key = ?2")?
                    .query_row(params![scope, key], |_| Ok(()))
                    .optional()?
                    .is_some())
            };
            let individual_pin = has_pin("device", &mac)?;
            let group_pin = match &group {
                Some(group) => has_pin("group", group)?,
                None => false,
            };
            let pins = (individual_pin, group_pin);
            Ok(Some(crate::columns::security_view(mac, (desired, desired_from), record, certificates, pins)))
        })
        .await
    }

    async fn revoke_certificates(&self, mac: &str, reason: &str, now: Timestamp) -> StoreResult<usize> {
        let (mac, reason) = (mac.to_owned(), reason.to_owned());
        self.write(move |connection| {
            end_certificates(connection, "mac", &mac, CertificateState::Revoked, &reason, now)
        })
        .await
    }

    async fn reset_security(&self, mac: &str, reason: &str, now: Timestamp) -> StoreResult<bool> {
        let (mac, reason) = (mac.to_owned(), reason.to_owned());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let known = tx
                .prepare_cached("SELECT 1 FROM devices WHERE mac = ?1")?
                .query_row(params![mac], |_| Ok(()))
                .optional()?
                .is_some();
            if !known {
                return Ok(false);
            }
            end_certificates(&tx, "mac", &mac, CertificateState::Revoked, &reason, now)?;
            let record = DeviceSecurity {
                state: SecurityState::Default,
                since: now,
                detail: reason.clone(),
                ..DeviceSecurity::default()
            };
            save_record(&tx, &mac, &record)?;
            tx.execute(
                "INSERT INTO history (mac, at, kind, reason, detail) VALUES (?1, ?2, 'security', 'admin', ?3)",
                params![mac, now, format!("reset to Default Mode: {reason}")],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn set_pin(&self, scope: &PinScope, pin: &str, now: Timestamp) -> StoreResult<()> {
        let (scope, pin) = (scope.clone(), self.secrets.seal(pin));
        self.write(move |connection| {
            let (scope, key) = scope_columns(&scope);
            connection.execute(
                "INSERT INTO pins (scope, scope_key, pin, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (scope, scope_key) DO UPDATE SET pin = excluded.pin, created_at = excluded.created_at",
                params![scope, key, pin, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn remove_pin(&self, scope: &PinScope) -> StoreResult<bool> {
        let scope = scope.clone();
        self.write(move |connection| {
            let (scope, key) = scope_columns(&scope);
            Ok(connection
                .execute("DELETE FROM pins WHERE scope = ?1 AND scope_key = ?2", params![scope, key])?
                > 0)
        })
        .await
    }

    async fn group_pin(&self, group: &str) -> StoreResult<Option<(String, Timestamp)>> {
        let (group, secrets) = (group.to_owned(), self.secrets.clone());
        self.read(move |connection| {
            let pin: Option<(String, Timestamp)> = connection
                .prepare_cached("SELECT pin, created_at FROM pins WHERE scope = 'group' AND scope_key = ?1")?
                .query_row(params![group], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            pin.map(|(pin, at)| Ok((secrets.open(&pin)?, at))).transpose()
        })
        .await
    }
}
