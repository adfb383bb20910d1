//! Prepared devices and approvals on PostgreSQL.

use deadpool_postgres::{GenericClient, Transaction};
use opendls_engine::{Decision, Provisioned, Scope, Timestamp, Variable};
use tokio_postgres::Row;

use super::batch::{Batch, owned};
use super::variables::{Existing, upsert_variable};
use super::{PostgresStore, execute, query, query_opt};
use crate::columns::{join_groups, opened_variables, sealed_variables, split_groups};
use crate::provisioning::{NewProvisioned, ProvisionedView, ProvisioningRefusal, ProvisioningStore};
use crate::secrets::SecretKeys;
use crate::{StoreError, StoreResult};

const COLUMNS: &str =
    "id, mac, e164, group_name, other_groups, variables, created_at, bound_mac, bound_at, conflict";

fn provisioned_row(row: &Row) -> StoreResult<(Provisioned, String)> {
    let provisioned = Provisioned {
        id: row.try_get("id")?,
        mac: row.try_get("mac")?,
        e164: row.try_get("e164")?,
        group: row.try_get("group_name")?,
        other_groups: split_groups(row.try_get("other_groups")?),
        variables: Vec::new(),
        bound_mac: row.try_get("bound_mac")?,
        security_mode: None,
    };
    Ok((provisioned, row.try_get("variables")?))
}

/// A decision's binding of a prepared device to the phone that took it. The prepared device
/// is claimed: bound to another phone meanwhile (another node's interaction), it refuses the
/// decision.
pub(super) fn binding(batch: &mut Batch, decision: &Decision, now: Timestamp, secrets: &SecretKeys) {
    if let Some(binding) = &decision.binding {
        batch.push_claim(
            "UPDATE provisioned_devices SET bound_mac = $2, bound_at = $3 \
             WHERE id = $1 AND (bound_mac IS NULL OR bound_mac = $2)",
            owned![binding.provisioned_id, binding.mac.clone(), now],
            format!("provisioned device {} was bound to another phone meanwhile", binding.provisioned_id),
        );
        // A variable set for the MAC by hand since it was prepared wins over the prepared one.
        for variable in &binding.variables {
            upsert_variable(batch, variable, now, secrets, Existing::Keep);
        }
    }
    if let Some(conflict) = &decision.binding_conflict {
        batch.push(
            "UPDATE provisioned_devices SET conflict = $2 WHERE id = $1",
            owned![conflict.provisioned_id, conflict.detail.clone()],
        );
    }
}

async fn find(
    db: &impl GenericClient,
    mac: &str,
    e164: Option<&str>,
) -> StoreResult<Option<(Provisioned, String)>> {
    let by_mac = format!("SELECT {COLUMNS} FROM provisioned_devices WHERE mac = $1");
    if let Some(row) = query_opt(db, &by_mac, &[&mac]).await? {
        return provisioned_row(&row).map(Some);
    }
    let Some(e164) = e164.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    // Prepared by number only: one prepared with a MAC is that phone's alone.
    let by_number = format!("SELECT {COLUMNS} FROM provisioned_devices WHERE e164 = $1 AND mac IS NULL");
    query_opt(db, &by_number, &[&e164]).await?.map(|row| provisioned_row(&row)).transpose()
}

/// Why one prepared device cannot be stored, checked in `tx` (earlier entries of the same
/// request already inserted).
async fn refusal(tx: &Transaction<'_>, device: &NewProvisioned) -> StoreResult<Option<String>> {
    if let Some(mac) = &device.mac {
        if query_opt(tx, "SELECT 1 FROM devices WHERE mac = $1", &[mac]).await?.is_some() {
            return Ok(Some(format!(
                "device {mac} is known already: set its group and variables directly (group assign, var set)"
            )));
        }
        if let Some(row) = query_opt(tx, "SELECT id FROM provisioned_devices WHERE mac = $1", &[mac]).await? {
            let id: i64 = row.try_get(0)?;
            return Ok(Some(format!("MAC {mac} is prepared already (provisioned device {id})")));
        }
    }
    if let Some(e164) = &device.e164
        && let Some(row) =
            query_opt(tx, "SELECT id FROM provisioned_devices WHERE e164 = $1", &[e164]).await?
    {
        let id: i64 = row.try_get(0)?;
        return Ok(Some(format!("E.164 {e164} is prepared already (provisioned device {id})")));
    }
    Ok(None)
}

impl ProvisioningStore for PostgresStore {
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
        let sql = format!("SELECT {COLUMNS} FROM provisioned_devices ORDER BY id");
        query(&self.client().await?, &sql, &[])
            .await?
            .iter()
            .map(|row| {
                let (p, variables) = provisioned_row(row)?;
                let bound_at: Option<i64> = row.try_get("bound_at")?;
                crate::columns::provisioned_view(
                    p,
                    &variables,
                    row.try_get("created_at")?,
                    bound_at,
                    row.try_get("conflict")?,
                )
            })
            .collect()
    }

    async fn remove_provisioned(&self, id: i64) -> StoreResult<bool> {
        Ok(execute(&self.client().await?, "DELETE FROM provisioned_devices WHERE id = $1", &[&id]).await? > 0)
    }

    async fn approve(&self, macs: Option<&[String]>) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = match macs {
            None => {
                query(
                    &client,
                    "UPDATE devices SET approval = 'approved' WHERE approval = 'pending' RETURNING mac",
                    &[],
                )
                .await?
            }
            Some(macs) => {
                query(
                    &client,
                    "UPDATE devices SET approval = 'approved' WHERE mac = ANY($1::text[]) AND approval != 'approved' \
                     RETURNING mac",
                    &[&macs],
                )
                .await?
            }
        };
        let mut approved =
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect::<StoreResult<Vec<String>>>()?;
        // In the order asked for, as the SQLite backend answers.
        if let Some(macs) = macs {
            approved.sort_by_key(|mac| macs.iter().position(|m| m == mac));
        } else {
            approved.sort();
        }
        Ok(approved)
    }
}

impl PostgresStore {
    /// [`crate::PhoneStore::provisioned_for`] on PostgreSQL.
    pub(super) async fn find_provisioned(
        &self,
        mac: &str,
        e164: Option<&str>,
    ) -> StoreResult<Option<Provisioned>> {
        let client = self.client().await?;
        let Some((mut provisioned, variables)) = find(&client, mac, e164).await? else {
            return Ok(None);
        };
        provisioned.variables = opened_variables(&variables, &self.secrets)?
            .into_iter()
            .map(|v| Variable { scope: Scope::Global, ..v })
            .collect();
        let group = provisioned.group.clone().unwrap_or_default();
        provisioned.security_mode = Some(super::security::effective_mode(&client, mac, &group).await?.0);
        Ok(Some(provisioned))
    }

    /// Inserts prepared devices in one transaction, committed only if none is refused and
    /// `commit` says so (a check rolls back).
    async fn insert_provisioned(
        &self,
        devices: &[NewProvisioned],
        now: Timestamp,
        commit: bool,
    ) -> StoreResult<Result<Vec<i64>, Vec<ProvisioningRefusal>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (mut ids, mut refusals) = (Vec::with_capacity(devices.len()), Vec::new());
        for (index, device) in devices.iter().enumerate() {
            if let Some(reason) = refusal(&tx, device).await? {
                refusals.push(ProvisioningRefusal { index, reason });
                continue;
            }
            let variables = sealed_variables(&device.variables, &self.secrets)?;
            let row = query_opt(
                &tx,
                "INSERT INTO provisioned_devices (mac, e164, group_name, other_groups, variables, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&device.mac, &device.e164, &device.group, &join_groups(&device.other_groups), &variables, &now],
            )
            .await?
            .ok_or_else(|| StoreError::Internal("an insert returned no number".into()))?;
            ids.push(row.try_get(0)?);
        }
        if !refusals.is_empty() {
            // Dropping the transaction rolls every insert back: nothing half-added.
            return Ok(Err(refusals));
        }
        if commit {
            tx.commit().await?;
        }
        Ok(Ok(ids))
    }
}
