//! Prepared devices and approvals on SQLite.

use opendls_engine::{Decision, Provisioned, Scope, Timestamp, Variable};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use super::variables::{Existing, upsert_variable};
use crate::provisioning::{NewProvisioned, ProvisionedView, ProvisioningRefusal, ProvisioningStore};
use crate::secrets::SecretKeys;
use crate::{StoreError, StoreResult};

use crate::columns::{opened_variables, sealed_variables};

const COLUMNS: &str =
    "id, mac, e164, group_name, other_groups, variables, created_at, bound_mac, bound_at, conflict";

fn provisioned_row(row: &Row<'_>) -> rusqlite::Result<(Provisioned, String)> {
    let provisioned = Provisioned {
        id: row.get("id")?,
        mac: row.get("mac")?,
        e164: row.get("e164")?,
        group: row.get("group_name")?,
        other_groups: super::split_groups(&row.get::<_, String>("other_groups")?),
        variables: Vec::new(),
        bound_mac: row.get("bound_mac")?,
        security_mode: None,
    };
    Ok((provisioned, row.get("variables")?))
}

/// Binds a provisioned device in the decision's transaction, or refuses the decision when
/// another phone was bound to it meanwhile; records a refused claim.
pub(super) fn apply_binding(
    tx: &Transaction<'_>,
    decision: &Decision,
    now: Timestamp,
    secrets: &SecretKeys,
) -> StoreResult<()> {
    if let Some(binding) = &decision.binding {
        let bound = tx
            .prepare_cached(
                "UPDATE provisioned_devices SET bound_mac = ?2, bound_at = ?3 \
                 WHERE id = ?1 AND (bound_mac IS NULL OR bound_mac = ?2)",
            )?
            .execute(params![binding.provisioned_id, binding.mac, now])?;
        if bound == 0 {
            return Err(StoreError::Conflict(format!(
                "provisioned device {} was bound to another phone meanwhile",
                binding.provisioned_id
            )));
        }
        // A variable set for the MAC by hand since it was prepared wins over the prepared one.
        for variable in &binding.variables {
            upsert_variable(tx, variable, now, secrets, Existing::Keep)?;
        }
    }
    if let Some(conflict) = &decision.binding_conflict {
        tx.prepare_cached("UPDATE provisioned_devices SET conflict = ?2 WHERE id = ?1")?
            .execute(params![conflict.provisioned_id, conflict.detail])?;
    }
    Ok(())
}

fn find(
    connection: &Connection,
    mac: &str,
    e164: Option<&str>,
) -> StoreResult<Option<(Provisioned, String)>> {
    let by_mac = connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM provisioned_devices WHERE mac = ?1"))?
        .query_row(params![mac], provisioned_row)
        .optional()?;
    if by_mac.is_some() {
        return Ok(by_mac);
    }
    let Some(e164) = e164.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    // Prepared by number only: one prepared with a MAC is that phone's alone.
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM provisioned_devices WHERE e164 = ?1 AND mac IS NULL"
        ))?
        .query_row(params![e164], provisioned_row)
        .optional()?)
}

/// Why one prepared device cannot be stored, checked in `tx` (earlier entries of the same
/// request already inserted).
fn refusal(tx: &Transaction<'_>, device: &NewProvisioned) -> StoreResult<Option<String>> {
    if let Some(mac) = &device.mac {
        let known =
            tx.query_row("SELECT 1 FROM devices WHERE mac = ?1", params![mac], |_| Ok(())).optional()?;
        if known.is_some() {
            return Ok(Some(format!(
                "device {mac} is known already: set its group and variables directly (group assign, var set)"
            )));
        }
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM provisioned_devices WHERE mac = ?1", params![mac], |r| r.get(0))
            .optional()?;
        if let Some(id) = taken {
            return Ok(Some(format!("MAC {mac} is prepared already (provisioned device {id})")));
        }
    }
    if let Some(e164) = &device.e164 {
        let taken: Option<i64> = tx
            .query_row("SELECT id FROM provisioned_devices WHERE e164 = ?1", params![e164], |r| r.get(0))
            .optional()?;
        if let Some(id) = taken {
            return Ok(Some(format!("E.164 {e164} is prepared already (provisioned device {id})")));
        }
    }
    Ok(None)
}

impl ProvisioningStore for SqliteStore {
    async fn add_provisioned(
        &self,
        devices: &[NewProvisioned],
        now: Timestamp,
    ) -> StoreResult<Result<Vec<i64>, Vec<ProvisioningRefusal>>> {
        self.insert_provisioned(devices, now, true).await
    }

    async fn check_provisioned(&self, devices: &[NewProvisioned]) -> StoreResult<Vec<ProvisioningRefusal>> {
        Ok(self.insert_provisioned(devices, 0, false).await?.err().unwrap_or_default())
    }

    async fn provisioned_devices(&self) -> StoreResult<Vec<ProvisionedView>> {
        self.read(|connection| {
            let rows = connection
                .prepare_cached(&format!("SELECT {COLUMNS} FROM provisioned_devices ORDER BY id"))?
                .query_map([], |row| {
                    let (provisioned, variables) = provisioned_row(row)?;
                    let bound_at: Option<i64> = row.get("bound_at")?;
                    Ok((
                        provisioned,
                        variables,
                        row.get::<_, i64>("created_at")?,
                        bound_at,
                        row.get("conflict")?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(p, variables, created_at, bound_at, conflict)| {
                    crate::columns::provisioned_view(p, &variables, created_at, bound_at, conflict)
                })
                .collect()
        })
        .await
    }

    async fn remove_provisioned(&self, id: i64) -> StoreResult<bool> {
        self.write(move |connection| {
            Ok(connection.execute("DELETE FROM provisioned_devices WHERE id = ?1", params![id])? > 0)
        })
        .await
    }

    async fn approve(&self, macs: Option<&[String]>) -> StoreResult<Vec<String>> {
        let macs = macs.map(<[String]>::to_vec);
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let approved = match &macs {
                None => tx
                    .prepare("UPDATE devices SET approval = 'approved' WHERE approval = 'pending' RETURNING mac")?
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                Some(macs) => {
                    let mut approved = Vec::new();
                    let mut update = tx.prepare(
                        "UPDATE devices SET approval = 'approved' WHERE mac = ?1 AND approval != 'approved' RETURNING mac",
                    )?;
                    for mac in macs {
                        approved.extend(update.query_row(params![mac], |row| row.get::<_, String>(0)).optional()?);
                    }
                    approved
                }
            };
            tx.commit()?;
            Ok(approved)
        })
        .await
    }
}

impl SqliteStore {
    /// [`crate::PhoneStore::provisioned_for`] on SQLite.
    pub(super) async fn find_provisioned(
        &self,
        mac: &str,
        e164: Option<&str>,
    ) -> StoreResult<Option<Provisioned>> {
        let (mac, e164, secrets) = (mac.to_owned(), e164.map(str::to_owned), self.secrets.clone());
        self.read_here(move |connection| {
            let Some((mut provisioned, variables)) = find(connection, &mac, e164.as_deref())? else {
                return Ok(None);
            };
            provisioned.variables = opened_variables(&variables, &secrets)?
                .into_iter()
                .map(|v| Variable { scope: Scope::Global, ..v })
                .collect();
            let group = provisioned.group.clone().unwrap_or_default();
            provisioned.security_mode = Some(super::security::effective_mode(connection, &mac, &group)?.0);
            Ok(Some(provisioned))
        })
        .await
    }
}

impl SqliteStore {
    /// Inserts prepared devices in one transaction, committed only if none is refused and
    /// `commit` says so (a check rolls back).
    async fn insert_provisioned(
        &self,
        devices: &[NewProvisioned],
        now: Timestamp,
        commit: bool,
    ) -> StoreResult<Result<Vec<i64>, Vec<ProvisioningRefusal>>> {
        let (devices, secrets) = (devices.to_vec(), self.secrets.clone());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let (mut ids, mut refusals) = (Vec::with_capacity(devices.len()), Vec::new());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO provisioned_devices (mac, e164, group_name, other_groups, variables, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (index, device) in devices.iter().enumerate() {
                    if let Some(reason) = refusal(&tx, device)? {
                        refusals.push(ProvisioningRefusal { index, reason });
                        continue;
                    }
                    let variables = sealed_variables(&device.variables, &secrets)?;
                    let other_groups = super::join_groups(&device.other_groups);
                    insert.execute(params![device.mac, device.e164, device.group, other_groups, variables, now])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            if !refusals.is_empty() {
                // Dropping the transaction rolls every insert back: nothing half-added.
                return Ok(Err(refusals));
            }
            if commit {
                tx.commit()?;
            }
            Ok(Ok(ids))
        })
        .await
    }
}
