//! Re-sealing stored secrets: values written before sealing existed, or under a key that has
//! been rotated out ([`crate::secrets`]).

use opendls_wpi::secrets::is_secret_item;
use rusqlite::{OptionalExtension, Transaction, params};

use opendls_engine::{FlaggedChange, ReportedItem};

use super::{SqliteStore, from_json, to_json};
use crate::StoreResult;
use crate::secrets::SecretKeys;

impl SqliteStore {
    /// Seals every stored secret that is not sealed with the current key (values written before
    /// sealing existed, or under a rotated-out key), in one transaction. Returns how many.
    pub async fn reseal_secrets(&self) -> StoreResult<usize> {
        let secrets = self.secrets.clone();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let mut count = 0;
            for table in ["desired_items", "write_failures"] {
                count += reseal_column(&tx, &secrets, table, "value", Rows::OfSecretItems)?;
            }
            count += reseal_column(&tx, &secrets, "variables", "value", Rows::Where("secret = 1"))?;
            count += reseal_column(&tx, &secrets, "pins", "pin", Rows::All)?;
            // Interaction states carry the items being read or written: sealed whole.
            count += reseal_column(&tx, &secrets, "interactions", "state", Rows::All)?;
            count += reseal_devices(&tx, &secrets)?;
            tx.execute("DELETE FROM secrets_sealed_with", [])?;
            tx.execute(
                "INSERT INTO secrets_sealed_with (key_id) VALUES (?1)",
                params![secrets.current_id()],
            )?;
            tx.commit()?;
            Ok(count)
        })
        .await
    }

    /// [`SqliteStore::reseal_secrets`] only if the last full re-sealing used another key than the
    /// current one (or never happened): a start reads every device only when the key changed.
    pub async fn reseal_secrets_if_key_changed(&self) -> StoreResult<usize> {
        let current = self.secrets.current_id().to_owned();
        let sealed_with: Option<String> = self
            .read(|connection| {
                Ok(connection
                    .query_row("SELECT key_id FROM secrets_sealed_with", [], |row| row.get(0))
                    .optional()?)
            })
            .await?;
        if sealed_with.as_deref() == Some(current.as_str()) {
            return Ok(0);
        }
        self.reseal_secrets().await
    }
}

/// Which rows of a table hold sealed values.
#[derive(Clone, Copy)]
enum Rows {
    /// Every row.
    All,
    /// Rows whose `name` is a secret item.
    OfSecretItems,
    /// Rows matching an SQL condition.
    Where(&'static str),
}

/// Re-seals `column` of `table` in the rows `which` names, where needed.
fn reseal_column(
    tx: &Transaction<'_>,
    secrets: &SecretKeys,
    table: &str,
    column: &str,
    which: Rows,
) -> StoreResult<usize> {
    let by_name = matches!(which, Rows::OfSecretItems);
    let name_column = if by_name { "name" } else { "''" };
    let condition = match which {
        Rows::Where(condition) => condition,
        Rows::All | Rows::OfSecretItems => "1",
    };
    let rows = tx
        .prepare(&format!("SELECT rowid, {name_column}, {column} FROM {table} WHERE {condition}"))?
        .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare(&format!("UPDATE {table} SET {column} = ?1 WHERE rowid = ?2"))?;
    let mut count = 0;
    for (rowid, name, stored) in rows {
        if (by_name && !is_secret_item(&name)) || !secrets.needs_resealing(&stored) {
            continue;
        }
        update.execute(params![secrets.seal(&secrets.open(&stored)?), rowid])?;
        count += 1;
    }
    Ok(count)
}

/// Secret values inside devices' reported inventories and flagged local changes.
fn reseal_devices(tx: &Transaction<'_>, secrets: &SecretKeys) -> StoreResult<usize> {
    let rows = tx
        .prepare("SELECT mac, reported, flagged FROM devices")?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut update = tx.prepare("UPDATE devices SET reported = ?1, flagged = ?2 WHERE mac = ?3")?;
    let mut count = 0;
    for (mac, reported, flagged) in rows {
        let mut reported: Vec<ReportedItem> = from_json(&reported)?;
        let mut flagged: Vec<FlaggedChange> = from_json(&flagged)?;
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
            update.execute(params![to_json(&reported)?, to_json(&flagged)?, mac])?;
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
