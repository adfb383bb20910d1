//! [`AdminStore`] on PostgreSQL: devices, history, desired values, groups and policies as the
//! admin API reads and sets them.

use opendls_engine::{
    DesiredEntry, DeviceRecord, HistoryEvent, ItemKey, LocalChangePolicy, Scope, Timestamp, WriteFailure,
};

use super::batch::Batch;
use super::phone::{upsert_desired, upsert_device};
use super::{PostgresStore, desired_entries, execute, failure_from_row, load_device, query, summary_row};
use crate::columns::{
    SUMMARY_COLUMNS, index_column, index_from_column, join_groups, kind_from, open_failures, scope_columns,
};
use crate::{AdminStore, DeviceSummary, StoreResult};

const DESIRED_COLUMNS: &str = "scope, scope_key, name, item_index, value";

impl AdminStore for PostgresStore {
    async fn list_devices(&self) -> StoreResult<Vec<DeviceSummary>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM devices d LEFT JOIN device_security s ON s.mac = d.mac ORDER BY d.mac"
        );
        query(&self.client().await?, &sql, &[]).await?.iter().map(summary_row).collect()
    }

    async fn device(&self, mac: &str) -> StoreResult<Option<DeviceRecord>> {
        load_device(&self.client().await?, mac, &self.secrets).await
    }

    async fn history(&self, mac: &str, offset: u32, limit: u32) -> StoreResult<Vec<HistoryEvent>> {
        let rows = query(
            &self.client().await?,
            "SELECT mac, at, kind, reason, name, item_index, old_value, new_value, detail FROM history \
             WHERE mac = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
            &[&mac, &i64::from(limit), &i64::from(offset)],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let name: Option<String> = row.try_get(4)?;
                let index: Option<i64> = row.try_get(5)?;
                Ok(HistoryEvent {
                    mac: row.try_get(0)?,
                    at: row.try_get(1)?,
                    kind: kind_from(row.try_get(2)?)?,
                    reason: row.try_get(3)?,
                    key: name.map(|name| ItemKey::new(name, index.and_then(index_from_column))),
                    old_value: row.try_get(6)?,
                    new_value: row.try_get(7)?,
                    detail: row.try_get(8)?,
                })
            })
            .collect()
    }

    async fn failures(&self, mac: &str) -> StoreResult<Vec<WriteFailure>> {
        let sql =
            "SELECT name, item_index, value, status, at FROM write_failures WHERE mac = $1 ORDER BY name";
        let failures = query(&self.client().await?, sql, &[&mac])
            .await?
            .iter()
            .map(failure_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        open_failures(failures, &self.secrets)
    }

    async fn set_desired(&self, entries: &[DesiredEntry], now: Timestamp) -> StoreResult<()> {
        let mut batch = Batch::default();
        for entry in entries {
            upsert_desired(&mut batch, entry, now, &self.secrets);
        }
        batch.commit(&self.client().await?).await
    }

    async fn unset_desired(&self, scope: &Scope, key: &ItemKey) -> StoreResult<bool> {
        let (scope, scope_key) = scope_columns(scope);
        let done = execute(
            &self.client().await?,
            "DELETE FROM desired_items WHERE scope = $1 AND scope_key = $2 AND name = $3 AND item_index = $4",
            &[&scope, &scope_key, &key.name, &index_column(key.index)],
        )
        .await?;
        Ok(done > 0)
    }

    async fn desired(&self, scope: Option<&Scope>) -> StoreResult<Vec<DesiredEntry>> {
        let client = self.client().await?;
        let rows = match scope {
            None => {
                let sql = format!(
                    "SELECT {DESIRED_COLUMNS} FROM desired_items ORDER BY scope, scope_key, name, item_index"
                );
                query(&client, &sql, &[]).await?
            }
            Some(scope) => {
                let (scope, scope_key) = scope_columns(scope);
                let sql = format!(
                    "SELECT {DESIRED_COLUMNS} FROM desired_items WHERE scope = $1 AND scope_key = $2 \
                     ORDER BY name, item_index"
                );
                query(&client, &sql, &[&scope, &scope_key]).await?
            }
        };
        desired_entries(&rows, &self.secrets)
    }

    async fn desired_named(&self, names: &[&str]) -> StoreResult<Vec<DesiredEntry>> {
        let sql = format!(
            "SELECT {DESIRED_COLUMNS} FROM desired_items WHERE name = ANY($1::text[]) \
             ORDER BY scope, scope_key, name, item_index"
        );
        let rows = query(&self.client().await?, &sql, &[&names]).await?;
        desired_entries(&rows, &self.secrets)
    }

    async fn assign_group(&self, mac: &str, groups: &[String]) -> StoreResult<bool> {
        let others = join_groups(groups.get(1..).unwrap_or_default());
        let done = execute(
            &self.client().await?,
            "UPDATE devices SET group_name = $1, other_groups = $3 WHERE mac = $2",
            &[&groups.first(), &mac, &others],
        )
        .await?;
        Ok(done > 0)
    }

    async fn import_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()> {
        let client = self.client().await?;
        // One transaction per thousand devices: fast, and a failure loses at most one chunk.
        for chunk in devices.chunks(1000) {
            let mut batch = Batch::default();
            for device in chunk {
                upsert_device(&mut batch, device, &self.secrets)?;
            }
            batch.commit(&client).await?;
        }
        Ok(())
    }

    async fn set_policy(&self, group: Option<&str>, policy: LocalChangePolicy) -> StoreResult<()> {
        let (scope, key) = match group {
            Some(group) => ("group", group),
            None => ("global", ""),
        };
        execute(
            &self.client().await?,
            "INSERT INTO policies (scope, scope_key, policy) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, scope_key) DO UPDATE SET policy = excluded.policy",
            &[&scope, &key, &policy.to_string()],
        )
        .await?;
        Ok(())
    }
}
