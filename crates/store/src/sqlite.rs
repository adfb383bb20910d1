//! The SQLite implementation: WAL, one writer connection (SQLite has a single writer anyway, and a
//! dedicated connection avoids lock-upgrade deadlocks) and a pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use opendls_engine::{
    Decision, DesiredEntry, DeviceRecord, EventKind, HistoryEvent, InteractionChange, InteractionState,
    ItemKey, LocalChangePolicy, Scope, Timestamp, WriteFailure,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::{AdminStore, DeviceContext, DeviceSummary, PhoneStore, StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// opendls' embedded database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode loses at most the last transactions on power loss, never
            // consistency; every phone re-sends its state at the next contact anyway.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        MIGRATOR.run(&writer).await?;
        let readers =
            SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { writer, readers })
    }

    /// Closes both pools, waiting for queries in flight.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

fn scope_columns(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Global => ("global", ""),
        Scope::Group(name) => ("group", name),
        Scope::Device(mac) => ("device", mac),
    }
}

fn scope_from_columns(scope: &str, key: String) -> StoreResult<Scope> {
    match scope {
        "global" => Ok(Scope::Global),
        "group" => Ok(Scope::Group(key)),
        "device" => Ok(Scope::Device(key)),
        other => Err(StoreError::Corrupt(format!("unknown scope {other:?}"))),
    }
}

fn index_column(index: Option<u32>) -> i64 {
    index.map_or(-1, i64::from)
}

fn index_from_column(value: i64) -> Option<u32> {
    u32::try_from(value).ok()
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn kind_name(kind: EventKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn device_from_row(row: &SqliteRow) -> StoreResult<DeviceRecord> {
    let reported: String = row.try_get("reported")?;
    let flagged: String = row.try_get("flagged")?;
    let mut device = DeviceRecord::new(row.try_get("mac")?, row.try_get("first_seen")?);
    device.e164 = row.try_get("e164")?;
    device.device_type = row.try_get("device_type")?;
    device.software_version = row.try_get("software_version")?;
    device.contact_me_uri = row.try_get("contact_me_uri")?;
    device.group = row.try_get("group_name")?;
    device.last_contact = row.try_get("last_contact")?;
    device.last_reason = row.try_get("last_reason")?;
    device.remote_addr = row.try_get("remote_addr")?;
    device.inventory_read_at = row.try_get("inventory_read_at")?;
    let items: Vec<opendls_engine::ReportedItem> = from_json(&reported)?;
    device.reported = items.into_iter().map(|item| (item.key.clone(), item)).collect();
    device.flagged = from_json(&flagged)?;
    Ok(device)
}

fn failure_from_row(row: &SqliteRow) -> StoreResult<WriteFailure> {
    Ok(WriteFailure {
        key: ItemKey::new(row.try_get::<String, _>("name")?, index_from_column(row.try_get("item_index")?)),
        value: row.try_get("value")?,
        status: row.try_get("status")?,
        at: row.try_get("at")?,
    })
}

fn desired_from_row(row: &SqliteRow) -> StoreResult<DesiredEntry> {
    Ok(DesiredEntry {
        scope: scope_from_columns(&row.try_get::<String, _>("scope")?, row.try_get("scope_key")?)?,
        key: ItemKey::new(row.try_get::<String, _>("name")?, index_from_column(row.try_get("item_index")?)),
        value: row.try_get("value")?,
    })
}

const DEVICE_COLUMNS: &str = "mac, e164, device_type, software_version, contact_me_uri, group_name, first_seen, \
     last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged";

impl SqliteStore {
    async fn load_device(&self, mac: &str) -> StoreResult<Option<DeviceRecord>> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE mac = $1")))
                .bind(mac)
                .fetch_optional(&self.readers)
                .await?;
        row.as_ref().map(device_from_row).transpose()
    }
}

impl PhoneStore for SqliteStore {
    async fn device_context(&self, mac: &str) -> StoreResult<DeviceContext> {
        let device = self.load_device(mac).await?;
        let group = device.as_ref().and_then(|d| d.group.clone()).unwrap_or_default();
        let desired = sqlx::query(
            "SELECT scope, scope_key, name, item_index, value FROM desired_items \
             WHERE scope = 'global' OR (scope = 'group' AND scope_key = $1) OR (scope = 'device' AND scope_key = $2) \
             ORDER BY name, item_index",
        )
        .bind(&group)
        .bind(mac)
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(desired_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        let failures =
            sqlx::query("SELECT name, item_index, value, status, at FROM write_failures WHERE mac = $1")
                .bind(mac)
                .fetch_all(&self.readers)
                .await?
                .iter()
                .map(failure_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
        let policies = sqlx::query(
            "SELECT scope, policy FROM policies WHERE scope = 'global' OR (scope = 'group' AND scope_key = $1)",
        )
        .bind(&group)
        .fetch_all(&self.readers)
        .await?;
        let mut policy = None;
        for scope in ["global", "group"] {
            for row in &policies {
                if row.try_get::<String, _>("scope")? == scope {
                    let text: String = row.try_get("policy")?;
                    policy = Some(LocalChangePolicy::from_str(&text).map_err(StoreError::Corrupt)?);
                }
            }
        }
        Ok(DeviceContext { device, desired, failures, policy })
    }

    async fn find_interaction(
        &self,
        session_id: Option<&str>,
        remote_addr: &str,
        not_before: Timestamp,
    ) -> StoreResult<Option<InteractionState>> {
        if let Some(session_id) = session_id {
            let row =
                sqlx::query("SELECT state FROM interactions WHERE session_id = $1 AND updated_at >= $2")
                    .bind(session_id)
                    .bind(not_before)
                    .fetch_optional(&self.readers)
                    .await?;
            if let Some(row) = row {
                return Ok(Some(from_json(&row.try_get::<String, _>("state")?)?));
            }
        }
        // Only an unambiguous match: two phones behind one NAT address must not be confused.
        let rows =
            sqlx::query("SELECT state FROM interactions WHERE remote_addr = $1 AND updated_at >= $2 LIMIT 2")
                .bind(remote_addr)
                .bind(not_before)
                .fetch_all(&self.readers)
                .await?;
        match rows.as_slice() {
            [row] => Ok(Some(from_json(&row.try_get::<String, _>("state")?)?)),
            _ => Ok(None),
        }
    }

    async fn apply(&self, decision: &Decision, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        if let Some(mac) = &decision.supersedes_interactions_of {
            sqlx::query("DELETE FROM interactions WHERE mac = $1").bind(mac).execute(&mut *tx).await?;
        }
        if let Some(device) = &decision.device {
            upsert_device(&mut tx, device).await?;
        }
        match &decision.interaction {
            InteractionChange::Start(state) | InteractionChange::Continue(state) => {
                sqlx::query(
                    "INSERT INTO interactions (session_id, mac, remote_addr, updated_at, state) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (session_id) DO UPDATE SET remote_addr = excluded.remote_addr, \
                     updated_at = excluded.updated_at, state = excluded.state",
                )
                .bind(&state.session_id)
                .bind(&state.mac)
                .bind(&state.remote_addr)
                .bind(state.updated_at)
                .bind(to_json(state)?)
                .execute(&mut *tx)
                .await?;
            }
            InteractionChange::End(Some(session_id)) => {
                sqlx::query("DELETE FROM interactions WHERE session_id = $1")
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
            }
            InteractionChange::End(None) => {}
        }
        // One statement for all events: every statement is a round trip to SQLite's worker
        // thread, and an interaction writing 20 items records 20 events.
        for events in decision.history.chunks(100) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO history (mac, at, kind, reason, name, item_index, old_value, new_value, detail) ",
            );
            insert.push_values(events, |mut row, event| {
                row.push_bind(&event.mac)
                    .push_bind(event.at)
                    .push_bind(kind_name(event.kind))
                    .push_bind(&event.reason)
                    .push_bind(event.key.as_ref().map(|k| k.name.clone()))
                    .push_bind(event.key.as_ref().and_then(|k| k.index).map(i64::from))
                    .push_bind(&event.old_value)
                    .push_bind(&event.new_value)
                    .push_bind(&event.detail);
            });
            insert.build().execute(&mut *tx).await?;
        }
        if let Some(mac) = decision.device.as_ref().map(|d| d.mac.as_str()) {
            for failure in &decision.failures_added {
                sqlx::query(
                    "INSERT INTO write_failures (mac, name, item_index, value, status, at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (mac, name, item_index) DO UPDATE SET value = excluded.value, status = excluded.status, \
                     at = excluded.at",
                )
                .bind(mac)
                .bind(&failure.key.name)
                .bind(index_column(failure.key.index))
                .bind(&failure.value)
                .bind(&failure.status)
                .bind(failure.at)
                .execute(&mut *tx)
                .await?;
            }
            for key in &decision.failures_cleared {
                sqlx::query("DELETE FROM write_failures WHERE mac = $1 AND name = $2 AND item_index = $3")
                    .bind(mac)
                    .bind(&key.name)
                    .bind(index_column(key.index))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for entry in &decision.desired_set {
            upsert_desired(&mut tx, entry, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts or updates a device; its group is left alone (only an administrator changes it).
async fn upsert_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    device: &DeviceRecord,
) -> StoreResult<()> {
    let reported: Vec<_> = device.reported.values().collect();
    sqlx::query(
        "INSERT INTO devices (mac, e164, device_type, software_version, contact_me_uri, group_name, first_seen, \
         last_contact, last_reason, remote_addr, inventory_read_at, reported, flagged) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (mac) DO UPDATE SET e164 = excluded.e164, device_type = excluded.device_type, \
         software_version = excluded.software_version, contact_me_uri = excluded.contact_me_uri, \
         last_contact = excluded.last_contact, last_reason = excluded.last_reason, \
         remote_addr = excluded.remote_addr, inventory_read_at = excluded.inventory_read_at, \
         reported = excluded.reported, flagged = excluded.flagged",
    )
    .bind(&device.mac)
    .bind(&device.e164)
    .bind(&device.device_type)
    .bind(&device.software_version)
    .bind(&device.contact_me_uri)
    .bind(&device.group)
    .bind(device.first_seen)
    .bind(device.last_contact)
    .bind(&device.last_reason)
    .bind(&device.remote_addr)
    .bind(device.inventory_read_at)
    .bind(to_json(&reported)?)
    .bind(to_json(&device.flagged)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_desired(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    entry: &DesiredEntry,
    now: Timestamp,
) -> StoreResult<()> {
    let (scope, scope_key) = scope_columns(&entry.scope);
    sqlx::query(
        "INSERT INTO desired_items (scope, scope_key, name, item_index, value, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, scope_key, name, item_index) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(scope)
    .bind(scope_key)
    .bind(&entry.key.name)
    .bind(index_column(entry.key.index))
    .bind(&entry.value)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl AdminStore for SqliteStore {
    async fn list_devices(&self) -> StoreResult<Vec<DeviceSummary>> {
        let rows = sqlx::query(
            "SELECT mac, e164, device_type, software_version, group_name, last_contact, last_reason, remote_addr \
             FROM devices ORDER BY mac",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeviceSummary {
                    mac: row.try_get("mac")?,
                    e164: row.try_get("e164")?,
                    device_type: row.try_get("device_type")?,
                    software_version: row.try_get("software_version")?,
                    group: row.try_get("group_name")?,
                    last_contact: row.try_get("last_contact")?,
                    last_reason: row.try_get("last_reason")?,
                    remote_addr: row.try_get("remote_addr")?,
                })
            })
            .collect()
    }

    async fn device(&self, mac: &str) -> StoreResult<Option<DeviceRecord>> {
        self.load_device(mac).await
    }

    async fn history(&self, mac: &str, limit: u32) -> StoreResult<Vec<HistoryEvent>> {
        let rows = sqlx::query(
            "SELECT mac, at, kind, reason, name, item_index, old_value, new_value, detail FROM history \
             WHERE mac = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(mac)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let name: Option<String> = row.try_get("name")?;
                let index: Option<i64> = row.try_get("item_index")?;
                Ok(HistoryEvent {
                    mac: row.try_get("mac")?,
                    at: row.try_get("at")?,
                    kind: serde_json::from_value(serde_json::Value::String(kind))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    reason: row.try_get("reason")?,
                    key: name.map(|name| ItemKey::new(name, index.and_then(index_from_column))),
                    old_value: row.try_get("old_value")?,
                    new_value: row.try_get("new_value")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn failures(&self, mac: &str) -> StoreResult<Vec<WriteFailure>> {
        sqlx::query(
            "SELECT name, item_index, value, status, at FROM write_failures WHERE mac = $1 ORDER BY name",
        )
        .bind(mac)
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(failure_from_row)
        .collect()
    }

    async fn set_desired(&self, entry: &DesiredEntry, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        upsert_desired(&mut tx, entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unset_desired(&self, scope: &Scope, key: &ItemKey) -> StoreResult<bool> {
        let (scope, scope_key) = scope_columns(scope);
        let done = sqlx::query(
            "DELETE FROM desired_items WHERE scope = $1 AND scope_key = $2 AND name = $3 AND item_index = $4",
        )
        .bind(scope)
        .bind(scope_key)
        .bind(&key.name)
        .bind(index_column(key.index))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn desired(&self, scope: Option<&Scope>) -> StoreResult<Vec<DesiredEntry>> {
        let rows = match scope {
            None => {
                sqlx::query(
                    "SELECT scope, scope_key, name, item_index, value FROM desired_items \
                     ORDER BY scope, scope_key, name, item_index",
                )
                .fetch_all(&self.readers)
                .await?
            }
            Some(scope) => {
                let (scope, scope_key) = scope_columns(scope);
                sqlx::query(
                    "SELECT scope, scope_key, name, item_index, value FROM desired_items \
                     WHERE scope = $1 AND scope_key = $2 ORDER BY name, item_index",
                )
                .bind(scope)
                .bind(scope_key)
                .fetch_all(&self.readers)
                .await?
            }
        };
        rows.iter().map(desired_from_row).collect()
    }

    async fn assign_group(&self, mac: &str, group: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE devices SET group_name = $1 WHERE mac = $2")
            .bind(group)
            .bind(mac)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn import_devices(&self, devices: &[DeviceRecord]) -> StoreResult<()> {
        // One transaction per thousand devices: fast, and a failure loses at most one batch.
        for batch in devices.chunks(1000) {
            let mut tx = self.writer.begin().await?;
            for device in batch {
                upsert_device(&mut tx, device).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn set_policy(&self, group: Option<&str>, policy: LocalChangePolicy) -> StoreResult<()> {
        let (scope, key) = match group {
            Some(group) => ("group", group),
            None => ("global", ""),
        };
        sqlx::query(
            "INSERT INTO policies (scope, scope_key, policy) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, scope_key) DO UPDATE SET policy = excluded.policy",
        )
        .bind(scope)
        .bind(key)
        .bind(policy.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
