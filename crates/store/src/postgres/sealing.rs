//! Re-sealing stored secrets on PostgreSQL: values written before sealing existed, or under a
//! key that has been rotated out ([`crate::secrets`]).

use deadpool_postgres::Transaction;
use opendls_engine::{FlaggedChange, ReportedItem};
use opendls_wpi::secrets::is_secret_item;

use super::{PostgresStore, execute, query};
use crate::StoreResult;
use crate::columns::{from_json, to_json};
use crate::secrets::SecretKeys;

/// The sealed columns: table, column, and which rows hold a sealed value.
const SEALED: &[(&str, &str, &str)] = &[
    ("desired_items", "value", "name"),
    ("write_failures", "value", "name"),
    ("variables", "value", "secret"),
    ("pins", "pin", ""),
    // Interaction states carry the items being read or written: sealed whole.
    ("interactions", "state", ""),
];

impl PostgresStore {
    /// Seals every stored secret that is not sealed with the current key, in one transaction
    /// (every node of a cluster shares the database, so one node does it for all). Returns how
    /// many.
    pub async fn reseal_secrets(&self) -> StoreResult<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nodes starting together re-seal once: the second waits, then finds nothing to do.
        execute(&tx, "LOCK TABLE secrets_sealed_with IN EXCLUSIVE MODE", &[]).await?;
        let mut count = 0;
        for (table, column, which) in SEALED {
            count += reseal_column(&tx, &self.secrets, table, column, which).await?;
        }
        count += reseal_devices(&tx, &self.secrets).await?;
        execute(&tx, "DELETE FROM secrets_sealed_with", &[]).await?;
        execute(&tx, "INSERT INTO secrets_sealed_with (key_id) VALUES ($1)", &[&self.secrets.current_id()])
            .await?;
        tx.commit().await?;
        Ok(count)
    }

    /// [`PostgresStore::reseal_secrets`] only if the last full re-sealing used another key than
    /// the current one (or never happened).
    pub async fn reseal_secrets_if_key_changed(&self) -> StoreResult<usize> {
        let rows = query(&self.client().await?, "SELECT key_id FROM secrets_sealed_with", &[]).await?;
        let sealed_with: Option<String> = rows.first().map(|row| row.try_get(0)).transpose()?;
        if sealed_with.as_deref() == Some(self.secrets.current_id()) {
            return Ok(0);
        }
        self.reseal_secrets().await
    }
}

/// Re-seals `column` of `table` where needed. `which` names the column that tells which rows are
/// sealed: `name` (a secret item's), `secret` (a flag), or nothing (every row). A row is found
/// again by its old value, which is unique enough: two rows with one sealed value get one new
/// sealed value, still the same secret.
async fn reseal_column(
    tx: &Transaction<'_>,
    secrets: &SecretKeys,
    table: &str,
    column: &str,
    which: &str,
) -> StoreResult<usize> {
    let (name_column, condition) = match which {
        "name" => ("name", "TRUE"),
        "secret" => ("''", "secret"),
        _ => ("''", "TRUE"),
    };
    let rows =
        query(tx, &format!("SELECT DISTINCT {name_column}, {column} FROM {table} WHERE {condition}"), &[])
            .await?;
    let update = format!("UPDATE {table} SET {column} = $1 WHERE {column} = $2");
    let mut count = 0;
    for row in rows {
        let (name, stored): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if (which == "name" && !is_secret_item(&name)) || !secrets.needs_resealing(&stored) {
            continue;
        }
        count += execute(tx, &update, &[&secrets.seal(&secrets.open(&stored)?), &stored]).await? as usize;
    }
    Ok(count)
}

/// Secret values inside devices' reported inventories and flagged local changes.
async fn reseal_devices(tx: &Transaction<'_>, secrets: &SecretKeys) -> StoreResult<usize> {
    let rows = query(tx, "SELECT mac, reported, flagged FROM devices", &[]).await?;
    let mut count = 0;
    for row in rows {
        let mac: String = row.try_get(0)?;
        let mut reported: Vec<ReportedItem> = from_json(row.try_get(1)?)?;
        let mut flagged: Vec<FlaggedChange> = from_json(row.try_get(2)?)?;
        let mut changed = 0;
        for item in
            reported.iter_mut().filter(|item| is_secret_item(&item.key.name) && !item.value.is_empty())
        {
            changed += reseal_value(secrets, &mut item.value)?;
        }
        for change in flagged.iter_mut().filter(|change| is_secret_item(&change.key.name)) {
            changed += reseal_value(secrets, &mut change.phone_value)?;
            changed += reseal_value(secrets, &mut change.desired_value)?;
        }
        if changed > 0 {
            execute(
                tx,
                "UPDATE devices SET reported = $1, flagged = $2 WHERE mac = $3",
                &[&to_json(&reported)?, &to_json(&flagged)?, &mac],
            )
            .await?;
            count += changed;
        }
    }
    Ok(count)
}

fn reseal_value(secrets: &SecretKeys, value: &mut String) -> StoreResult<usize> {
    if !secrets.needs_resealing(value) {
        return Ok(0);
    }
    *value = secrets.seal(&secrets.open(value)?);
    Ok(1)
}
