//! Secure Mode tables on PostgreSQL.

use std::str::FromStr;

use deadpool_postgres::GenericClient;
use opendls_engine::{
    CertificateChange, CertificateRecord, CertificateState, Decision, DeviceSecurity, Scope, SecurityMode,
    SecurityState, Timestamp,
};
use tokio_postgres::Row;

use super::batch::{Batch, owned};
use super::{PostgresStore, execute, exists, query, query_opt};
use crate::columns::{scope_columns, scope_from_columns};
use crate::secrets::SecretKeys;
use crate::security::{CertificateDetail, PinScope, SecurityStore, SecurityView};
use crate::{StoreError, StoreResult};

/// The mode in force for a device and its record (the device's group read in the same query).
pub(super) async fn device_security(
    db: &impl GenericClient,
    mac: &str,
) -> StoreResult<(SecurityMode, DeviceSecurity)> {
    let by_mac: super::Params<'_> = &[&mac];
    let (modes, record) = tokio::try_join!(
        mode_rows(
            db,
            "scope = 'global' OR (scope = 'device' AND scope_key = $1) \
             OR (scope = 'group' AND scope_key = (SELECT group_name FROM devices WHERE mac = $1))",
            by_mac,
        ),
        load_record(db, mac),
    )?;
    Ok((crate::columns::effective_mode(modes)?.0, record.unwrap_or_default()))
}

/// The mode in force for a device of group `group`, and where it is set.
pub(super) async fn effective_mode(
    db: &impl GenericClient,
    mac: &str,
    group: &str,
) -> StoreResult<(SecurityMode, Option<Scope>)> {
    let condition =
        "scope = 'global' OR (scope = 'group' AND scope_key = $1) OR (scope = 'device' AND scope_key = $2)";
    crate::columns::effective_mode(mode_rows(db, condition, &[&group, &mac]).await?)
}

async fn mode_rows(
    db: &impl GenericClient,
    condition: &str,
    params: super::Params<'_>,
) -> StoreResult<Vec<(String, String, String)>> {
    let sql = format!("SELECT scope, scope_key, mode FROM security_modes WHERE {condition}");
    query(db, &sql, params)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

async fn load_record(db: &impl GenericClient, mac: &str) -> StoreResult<Option<DeviceSecurity>> {
    let sql = "SELECT state, pin_bootstrap, pending_tan, certificate_serial, since, detail \
               FROM device_security WHERE mac = $1";
    let Some(row) = query_opt(db, sql, &[&mac]).await? else { return Ok(None) };
    Ok(Some(DeviceSecurity {
        state: SecurityState::from_str(row.try_get(0)?).map_err(StoreError::Corrupt)?,
        pin_bootstrap: row.try_get(1)?,
        pending_tan: row.try_get(2)?,
        certificate_serial: row.try_get(3)?,
        since: row.try_get(4)?,
        detail: row.try_get(5)?,
    }))
}

fn save_record(batch: &mut Batch, mac: &str, record: &DeviceSecurity) {
    batch.push(
        "INSERT INTO device_security (mac, state, pin_bootstrap, pending_tan, certificate_serial, since, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (mac) DO UPDATE SET state = excluded.state, \
         pin_bootstrap = excluded.pin_bootstrap, pending_tan = excluded.pending_tan, \
         certificate_serial = excluded.certificate_serial, since = excluded.since, detail = excluded.detail",
        owned![
            mac.to_owned(),
            record.state.as_str(),
            record.pin_bootstrap,
            record.pending_tan.clone(),
            record.certificate_serial.clone(),
            record.since,
            record.detail.clone(),
        ],
    );
}

const CERTIFICATE_COLUMNS: &str =
    "serial, fingerprint, mac, not_before, not_after, state, issued_at, ended_at, ended_reason";

fn certificate_detail(row: &Row) -> StoreResult<CertificateDetail> {
    Ok(CertificateDetail {
        record: CertificateRecord {
            serial: row.try_get(0)?,
            fingerprint: row.try_get(1)?,
            mac: row.try_get(2)?,
            not_before: row.try_get(3)?,
            not_after: row.try_get(4)?,
            state: CertificateState::from_str(row.try_get(5)?).map_err(StoreError::Corrupt)?,
        },
        issued_at: row.try_get(6)?,
        ended_at: row.try_get(7)?,
        ended_reason: row.try_get(8)?,
    })
}

pub(super) async fn certificate_by_fingerprint(
    db: &impl GenericClient,
    fingerprint: &str,
) -> StoreResult<Option<CertificateRecord>> {
    let sql = format!("SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE fingerprint = $1");
    query_opt(db, &sql, &[&fingerprint]).await?.map(|row| Ok(certificate_detail(&row)?.record)).transpose()
}

/// Ends issued or active certificates (never brings a revoked one back).
fn end_certificates(
    batch: &mut Batch,
    filter: &str,
    key: &str,
    state: CertificateState,
    reason: &str,
    now: Timestamp,
) {
    let sql = format!(
        "UPDATE certificates SET state = $1, ended_at = $2, ended_reason = $3 \
         WHERE {filter} = $4 AND state IN ('issued', 'active')"
    );
    batch.push(sql, owned![state.as_str(), now, reason.to_owned(), key.to_owned()]);
}

/// A decision's Secure Mode changes.
pub(super) fn security_changes(batch: &mut Batch, decision: &Decision, now: Timestamp) -> StoreResult<()> {
    if let Some(record) = &decision.security {
        let mac = decision
            .device
            .as_ref()
            .map(|d| d.mac.as_str())
            .ok_or_else(|| StoreError::Internal("a security change without its device".into()))?;
        save_record(batch, mac, record);
    }
    for change in &decision.certificates {
        match change {
            CertificateChange::Issued(record) => batch.push(
                "INSERT INTO certificates (serial, fingerprint, mac, not_before, not_after, state, issued_at) \
                 VALUES ($1, $2, $3, $4, $5, 'issued', $6)",
                owned![
                    record.serial.clone(),
                    record.fingerprint.clone(),
                    record.mac.clone(),
                    record.not_before,
                    record.not_after,
                    now
                ],
            ),
            CertificateChange::Activated { serial, mac } => {
                let reason = format!("replaced by certificate {serial}");
                batch.push(
                    "UPDATE certificates SET state = 'superseded', ended_at = $1, ended_reason = $2 \
                     WHERE mac = $3 AND state = 'active' AND serial <> $4",
                    owned![now, reason, mac.clone(), serial.clone()],
                );
                batch.push(
                    "UPDATE certificates SET state = 'active' WHERE serial = $1 AND state = 'issued'",
                    owned![serial.clone()],
                );
            }
            CertificateChange::Ended { serial, state, reason } => {
                end_certificates(batch, "serial", serial, *state, reason, now);
            }
        }
    }
    Ok(())
}

pub(super) async fn bootstrap_pin(
    db: &impl GenericClient,
    mac: &str,
    first_contact_group: Option<&str>,
    secrets: &SecretKeys,
) -> StoreResult<Option<String>> {
    let stored = query_opt(db, "SELECT group_name FROM devices WHERE mac = $1", &[&mac]).await?;
    // A device not stored yet is being bound: its prepared group counts.
    let group: Option<String> = match stored {
        Some(row) => row.try_get(0)?,
        None => first_contact_group.map(str::to_owned),
    };
    let sql = "SELECT pin FROM pins WHERE scope = $1 AND scope_key = $2";
    if let Some(row) = query_opt(db, sql, &[&"device", &mac]).await? {
        return Ok(Some(secrets.open(row.try_get(0)?)?));
    }
    let Some(group) = group else { return Ok(None) };
    match query_opt(db, sql, &[&"group", &group]).await? {
        Some(row) => Ok(Some(secrets.open(row.try_get(0)?)?)),
        None => Ok(None),
    }
}

impl SecurityStore for PostgresStore {
    async fn set_security_mode(&self, scope: &Scope, mode: Option<SecurityMode>) -> StoreResult<()> {
        let (scope, key) = scope_columns(scope);
        let client = self.client().await?;
        match mode {
            Some(mode) => {
                execute(
                    &client,
                    "INSERT INTO security_modes (scope, scope_key, mode) VALUES ($1, $2, $3) \
                     ON CONFLICT (scope, scope_key) DO UPDATE SET mode = excluded.mode",
                    &[&scope, &key, &mode.as_str()],
                )
                .await?
            }
            None => {
                execute(
                    &client,
                    "DELETE FROM security_modes WHERE scope = $1 AND scope_key = $2",
                    &[&scope, &key],
                )
                .await?
            }
        };
        Ok(())
    }

    async fn security_modes(&self) -> StoreResult<Vec<(Scope, SecurityMode)>> {
        mode_rows(&self.client().await?, "TRUE ORDER BY scope, scope_key", &[])
            .await?
            .into_iter()
            .map(|(scope, key, mode)| {
                Ok((
                    scope_from_columns(&scope, key)?,
                    SecurityMode::from_str(&mode).map_err(StoreError::Corrupt)?,
                ))
            })
            .collect()
    }

    async fn security_view(&self, mac: &str) -> StoreResult<Option<SecurityView>> {
        let client = self.client().await?;
        let db = &client;
        let Some(row) = query_opt(db, "SELECT group_name FROM devices WHERE mac = $1", &[&mac]).await? else {
            return Ok(None);
        };
        let group: Option<String> = row.try_get(0)?;
        let (desired, desired_from) = effective_mode(db, mac, group.as_deref().unwrap_or_default()).await?;
        let record = load_record(db, mac).await?;
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE mac = $1 ORDER BY issued_at DESC, seq DESC"
        );
        let certificates = query(db, &sql, &[&mac])
            .await?
            .iter()
            .map(certificate_detail)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_pin = "SELECT 1 FROM pins WHERE scope = $1 AND scope_key = $2";
        let individual_pin = exists(db, has_pin, &[&"device", &mac]).await?;
        let group_pin = match &group {
            Some(group) => exists(db, has_pin, &[&"group", group]).await?,
            None => false,
        };
        let pins = (individual_pin, group_pin);
        Ok(Some(crate::columns::security_view(
            mac.to_owned(),
            (desired, desired_from),
            record,
            certificates,
            pins,
        )))
    }

    async fn revoke_certificates(&self, mac: &str, reason: &str, now: Timestamp) -> StoreResult<usize> {
        let mut batch = Batch::default();
        end_certificates(&mut batch, "mac", mac, CertificateState::Revoked, reason, now);
        let ended = batch.send(&self.client().await?).await?;
        Ok(ended.iter().sum::<u64>() as usize)
    }

    async fn reset_security(&self, mac: &str, reason: &str, now: Timestamp) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !exists(&tx, "SELECT 1 FROM devices WHERE mac = $1", &[&mac]).await? {
            return Ok(false);
        }
        let mut batch = Batch::default();
        end_certificates(&mut batch, "mac", mac, CertificateState::Revoked, reason, now);
        let record = DeviceSecurity {
            state: SecurityState::Default,
            since: now,
            detail: reason.to_owned(),
            ..DeviceSecurity::default()
        };
        save_record(&mut batch, mac, &record);
        batch.push(
            "INSERT INTO history (mac, at, kind, reason, detail) VALUES ($1, $2, 'security', 'admin', $3)",
            owned![mac.to_owned(), now, format!("reset to Default Mode: {reason}")],
        );
        batch.send(&tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_pin(&self, scope: &PinScope, pin: &str, now: Timestamp) -> StoreResult<()> {
        let (scope, key) = scope_columns(scope);
        execute(
            &self.client().await?,
            "INSERT INTO pins (scope, scope_key, pin, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope, scope_key) DO UPDATE SET pin = excluded.pin, created_at = excluded.created_at",
            &[&scope, &key, &self.secrets.seal(pin), &now],
        )
        .await?;
        Ok(())
    }

    async fn remove_pin(&self, scope: &PinScope) -> StoreResult<bool> {
        let (scope, key) = scope_columns(scope);
        let sql = "DELETE FROM pins WHERE scope = $1 AND scope_key = $2";
        Ok(execute(&self.client().await?, sql, &[&scope, &key]).await? > 0)
    }

    async fn group_pin(&self, group: &str) -> StoreResult<Option<(String, Timestamp)>> {
        let sql = "SELECT pin, created_at FROM pins WHERE scope = 'group' AND scope_key = $1";
        match query_opt(&self.client().await?, sql, &[&group]).await? {
            Some(row) => Ok(Some((self.secrets.open(row.try_get(0)?)?, row.try_get(1)?))),
            None => Ok(None),
        }
    }
}
