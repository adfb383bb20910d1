//! [`AdminStore`] on SQLite: devices, history, desired values, groups and policies as the admin
//! API reads and sets them.

use opendls_engine::{
    DesiredEntry, DeviceRecord, HistoryEvent, ItemKey, LocalChangePolicy, Scope, Timestamp, WriteFailure,
};
use rusqlite::params;

use super::phone::{upsert_desired, upsert_device};
use super::{
    SqliteStore, desired_entry, desired_row, failure_from_row, index_column, index_from_column, load_device,
    open_failures, scope_columns, summary_row,
};
use crate::columns::SUMMARY_COLUMNS;
use crate::{AdminStore, DeviceSummary, StoreResult};

impl AdminStore for SqliteStore {
    async fn list_devices(&self) -> StoreResult<Vec<DeviceSummary>> {
        self.read(|connection| {
            let rows = connection
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM devices d LEFT JOIN device_security s ON s.mac = d.mac ORDER BY d.mac"
                ))?
                .query_map([], summary_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn device(&self, mac: &str) -> StoreResult<Option<DeviceRecord>> {
        let mac = mac.to_owned();
        let secrets = self.secrets.clone();
        self.read(move |connection| load_device(connection, &mac, &secrets)).await
    }

    async fn history(&self, mac: &str, offset: u32, limit: u32) -> StoreResult<Vec<HistoryEvent>> {
        let mac = mac.to_owned();
        self.read(move |connection| {
            let rows = connection
                .prepare_cached(
                    "SELECT mac, at, kind, reason, name, item_index, old_value, new_value, detail FROM history \
                     WHERE mac = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![mac, i64::from(limit), i64::from(offset)], |row| {
                    Ok((
                        row.get::<_, String>("mac")?,
                        row.get::<_, i64>("at")?,
                        row.get::<_, String>("kind")?,
                        row.get::<_, String>("reason")?,
                        row.get::<_, Option<String>>("name")?,
                        row.get::<_, Option<i64>>("item_index")?,
                        row.get::<_, Option<String>>("old_value")?,
                        row.get::<_, Option<String>>("new_value")?,
                        row.get::<_, String>("detail")?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(mac, at, kind, reason, name, index, old_value, new_value, detail)| {
                    Ok(HistoryEvent {
                        mac,
                        at,
                        kind: crate::columns::kind_from(kind)?,
                        reason,
                        key: name.map(|name| ItemKey::new(name, index.and_then(index_from_column))),
                        old_value,
                        new_value,
                        detail,
                    })
                })
                .collect()
        })
        .await
    }

    async fn failures(&self, mac: &str) -> StoreResult<Vec<WriteFailure>> {
        let (mac, secrets) = (mac.to_owned(), self.secrets.clone());
        self.read(move |connection| {
            let failures = connection
                .prepare_cached("SELECT name, item_index, value, status, at FROM write_failures WHERE mac = ?1 ORDER BY name")?
                .query_map(params![mac], failure_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            open_failures(failures, &secrets)
        })
        .await
    }

    async fn set_desired(&self, entries: &[DesiredEntry], now: Timestamp) -> StoreResult<()> {
        let (entries, secrets) = (entries.to_vec(), self.secrets.clone());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            for entry in &entries {
                upsert_desired(&tx, entry, now, &secrets)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn unset_desired(&self, scope: &Scope, key: &ItemKey) -> StoreResult<bool> {
        let (scope, key) = (scope.clone(), key.clone());
        self.write(move |connection| {
            let (scope, scope_key) = scope_columns(&scope);
            let done = connection
                .prepare_cached(
                    "DELETE FROM desired_items WHERE scope = ?1 AND scope_key = ?2 AND name = ?3 AND item_index = ?4",
                )?
                .execute(params![scope, scope_key, key.name, index_column(key.index)])?;
            Ok(done > 0)
        })
        .await
    }

    async fn desired(&self, scope: Option<&Scope>) -> StoreResult<Vec<DesiredEntry>> {
        let (scope, secrets) = (scope.cloned(), self.secrets.clone());
        self.read(move |connection| {
            let rows = match &scope {
                None => connection
                    .prepare_cached(
                        "SELECT scope, scope_key, name, item_index, value FROM desired_items \
                         ORDER BY scope, scope_key, name, item_index",
                    )?
                    .query_map([], desired_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                Some(scope) => {
                    let (scope, scope_key) = scope_columns(scope);
                    connection
                        .prepare_cached(
                            "SELECT scope, scope_key, name, item_index, value FROM desired_items \
                             WHERE scope = ?1 AND scope_key = ?2 ORDER BY name, item_index",
                        )?
                        .query_map(params![scope, scope_key], desired_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            rows.into_iter().map(|row| desired_entry(row, &secrets)).collect()
        })
        .await
    }

    async fn desired_named(&self, names: &[&str]) -> StoreResult<Vec<DesiredEntry>> {
        let (names, secrets): (Vec<String>, _) =
            (names.iter().map(|n| (*n).to_owned()).collect(), self.secrets.clone());
        self.read(move |connection| {
            let marks = vec!["?"; names.len()].join(", ");
            let rows = connection
                .prepare(&format!(
                    "SELECT scope, scope_key, name, item_index, value FROM desired_items \
                     WHERE name IN ({marks}) ORDER BY scope, scope_key, name, item_index"
                ))?
                .query_map(rusqlite::params_from_iter(&names), desired_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|row| desired_entry(row, &secrets)).collect()
        })
        .await
    }

    async fn assign_group(&self, mac: &str, groups: &[String]) -> StoreResult<bool> {
        let (mac, first, others) = (
            mac.to_owned(),
            groups.first().cloned(),
            super::join_groups(groups.get(1..).unwrap_or_default()),
        );
        self.write(move |connection| {
            let done = connection
                .prepare_cached("UPDATE devices SET group_name = ?1, other_groups = ?3 WHERE mac = ?2")?
                .execute(params![first, mac, others])?;
            Ok(done > 0)
        })
        .await
    }

    async fn import_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()> {
        let (devices, secrets) = (devices.to_vec(), self.secrets.clone());
        self.write(move |connection| {
            // One transaction per thousand devices: fast, and a failure loses at most one batch.
            for batch in devices.chunks(1000) {
                let tx = connection.transaction()?;
                for device in batch {
                    upsert_device(&tx, device, &secrets)?;
                }
                tx.commit()?;
            }
            Ok(())
        })
        .await
    }

    async fn set_policy(&self, group: Option<&str>, policy: LocalChangePolicy) -> StoreResult<()> {
        let group = group.map(str::to_owned);
        self.write(move |connection| {
            let (scope, key) = match &group {
                Some(group) => ("group", group.as_str()),
                None => ("global", ""),
            };
            connection
                .prepare_cached(
                    "INSERT INTO policies (scope, scope_key, policy) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (scope, scope_key) DO UPDATE SET policy = excluded.policy",
                )?
                .execute(params![scope, key, policy.to_string()])?;
            Ok(())
        })
        .await
    }
}
