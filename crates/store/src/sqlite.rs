//! The SQLite implementation: WAL, one writer connection (SQLite has a single writer anyway, and a
//! dedicated connection avoids lock-upgrade deadlocks) and a few reader connections.
//!
//! Each trait call runs all its statements in one blocking task: one hand-off to a database thread
//! per call instead of one per statement. Measured (BENCHMARKS.md): a per-statement hand-off cost
//! about 100 µs, where SQLite itself needs a few.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opendls_engine::{DeviceRecord, ItemKey, WriteFailure};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

pub(crate) use crate::columns::{
    DEVICE_COLUMNS, desired_entry, from_json, index_column, index_from_column, join_groups, kind_name,
    open_failures, scope_columns, scope_from_columns, split_groups, stored_value, to_json,
};
use crate::secrets::SecretKeys;
use crate::{DeviceSummary, StoreError, StoreResult, Synchronous};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_jobs.sql"),
    include_str!("../migrations/sqlite/0003_secure_mode.sql"),
    include_str!("../migrations/sqlite/0004_secrets_sealed_with.sql"),
    include_str!("../migrations/sqlite/0005_read_results.sql"),
    include_str!("../migrations/sqlite/0006_stored_files.sql"),
    include_str!("../migrations/sqlite/0007_deployments.sql"),
    include_str!("../migrations/sqlite/0008_rollouts.sql"),
    include_str!("../migrations/sqlite/0009_firmware_pins.sql"),
    include_str!("../migrations/sqlite/0010_stored_file_ids_never_reused.sql"),
    include_str!("../migrations/sqlite/0011_variables.sql"),
    include_str!("../migrations/sqlite/0012_provisioning.sql"),
    include_str!("../migrations/sqlite/0013_several_groups.sql"),
    include_str!("../migrations/sqlite/0014_accounts.sql"),
    include_str!("../migrations/sqlite/0015_sessions.sql"),
];

mod accounts;
mod admin;
mod audit;
mod files;
mod fleet;
mod jobs;
mod phone;
mod pins;
mod provisioning;
mod retention;
mod rollouts;
mod sealing;
mod security;
mod site;
mod stats;
mod variables;

impl crate::Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        // An open connection keeps answering from a file deleted under it, and everything
        // written then is lost at the next start: the file must still be there.
        if !self.inner.path.exists() {
            let path = self.inner.path.display();
            return Err(StoreError::Database(format!("sqlite: the database file {path} is gone")));
        }
        self.read(|connection| Ok(connection.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    async fn close(&self) {
        // The inherent method (an associated function path prefers it over the trait's).
        SqliteStore::close(self).await
    }
}

/// Errors of the SQLite driver, named as this backend's, so that nothing above the store sees
/// the driver.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(format!("sqlite: {error}"))
    }
}

/// Reader connections kept open; more are opened on demand and dropped after use.
const READERS: usize = 4;

/// opendls' embedded database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    /// Seals secret values before they are written and opens them when read ([`crate::secrets`]).
    secrets: Arc<SecretKeys>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Whether phone steps that carry no administrator or job state commit without waiting for
    /// the disk ([`Synchronous::Mixed`]).
    relaxed_phone_steps: std::sync::atomic::AtomicBool,
}

impl SqliteStore {
    /// Writes a consistent copy of the database file at `path` to `into` (which must not exist)
    /// while a running service may be writing to it: `VACUUM INTO` reads in one transaction, so
    /// the copy is the database as of one moment, compacted. Blocks: call it off the runtime.
    pub fn snapshot(path: &Path, into: &Path) -> StoreResult<()> {
        if !path.is_file() {
            return Err(StoreError::Internal(format!("no database at {}", path.display())));
        }
        let connection = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        connection.busy_timeout(Duration::from_secs(30))?;
        let target =
            into.to_str().ok_or_else(|| StoreError::Internal("the copy's path is not UTF-8".into()))?;
        connection.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// Opens (creating if needed) the database file and applies migrations, with the secrets
    /// key file beside it ([`crate::secrets::KEY_FILE`], created if needed).
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let key_file = path.with_file_name(crate::secrets::KEY_FILE);
        let keys = SecretKeys::load_or_create(&key_file).map_err(|e| StoreError::Internal(e.to_string()))?;
        SqliteStore::open_with_keys(path, keys).await
    }

    /// Opens (creating if needed) the database file and applies migrations; secrets are sealed
    /// with `keys`.
    pub async fn open_with_keys(path: &Path, keys: SecretKeys) -> StoreResult<Self> {
        let path = path.to_owned();
        let secrets = Arc::new(keys);
        blocking(move || {
            let mut writer = Connection::open(&path)?;
            // WAL: readers never wait for the writer. NORMAL in WAL mode loses at most the last
            // transactions on power loss, never consistency; every phone re-sends its state at
            // its next contact anyway.
            writer.pragma_update(None, "journal_mode", "WAL")?;
            // Until `set_synchronous` says otherwise: FULL, so that nothing acknowledged is lost.
            writer.pragma_update(None, "synchronous", "FULL")?;
            writer.pragma_update(None, "foreign_keys", "ON")?;
            writer.busy_timeout(Duration::from_secs(10))?;
            keep_plans(&writer)?;
            migrate(&mut writer)?;
            let readers = (0..READERS).map(|_| open_reader(&path)).collect::<StoreResult<Vec<_>>>()?;
            Ok(SqliteStore {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(writer),
                    readers: Mutex::new(readers),
                    relaxed_phone_steps: false.into(),
                }),
                secrets,
            })
        })
        .await
    }

    /// How hard commits wait for the disk (see [`Synchronous`]).
    pub async fn set_synchronous(&self, synchronous: Synchronous) -> StoreResult<()> {
        let value = match synchronous {
            Synchronous::Full | Synchronous::Mixed => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        let relaxed = synchronous == Synchronous::Mixed;
        self.inner.relaxed_phone_steps.store(relaxed, std::sync::atomic::Ordering::Relaxed);
        self.write(move |connection| Ok(connection.pragma_update(None, "synchronous", value)?)).await
    }

    /// Closes the connections (after the calls in flight).
    pub async fn close(&self) {
        let inner = self.inner.clone();
        let _ = blocking(move || {
            inner.readers.lock().map_err(poisoned)?.clear();
            Ok(())
        })
        .await;
    }

    /// Runs `work` with the writer connection on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut connection = inner.writer.lock().map_err(poisoned)?;
            work(&mut connection)
        })
        .await
    }

    /// Runs `work` with a reader connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = self.inner.clone();
        blocking(move || {
            let taken = inner.readers.lock().map_err(poisoned)?.pop();
            let connection = match taken {
                Some(connection) => connection,
                None => open_reader(&inner.path)?,
            };
            let result = work(&connection);
            let mut readers = inner.readers.lock().map_err(poisoned)?;
            if readers.len() < READERS {
                readers.push(connection);
            }
            result
        })
        .await
    }
}

impl SqliteStore {
    /// Runs short work with the writer on the calling thread when the writer is free, else on a
    /// blocking thread. For the phone endpoint's hot path only: its statements are indexed and
    /// take about as long as a TLS handshake's signature, which also runs on the runtime's
    /// threads, while a hop to a blocking thread and back costs two thread switches (in
    /// interleaved storm runs: 5-20% less server CPU per interaction, lower latency and memory,
    /// BENCHMARKS.md). Long work (listings, jobs, migrations) always goes to a blocking thread.
    async fn write_here<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        if let Ok(mut connection) = self.inner.writer.try_lock() {
            return work(&mut connection);
        }
        self.write(work).await
    }

    /// Runs short work with a pooled reader on the calling thread when one is free, else on a
    /// blocking thread (see [`SqliteStore::write_here`]).
    async fn read_here<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let pooled = self.inner.readers.try_lock().ok().and_then(|mut readers| readers.pop());
        let Some(connection) = pooled else { return self.read(work).await };
        let result = work(&connection);
        if let Ok(mut readers) = self.inner.readers.lock()
            && readers.len() < READERS
        {
            readers.push(connection);
        }
        result
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Internal(format!("database task: {e}")))?
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Internal("a database call panicked earlier".into())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    reader.busy_timeout(Duration::from_secs(10))?;
    keep_plans(&reader)?;
    Ok(reader)
}

/// Turns on SQLite's query planner stability guarantee. Without it, a statement whose plan
/// looked at a bound value (an `?3 != ''` test, a partial index's condition) is compiled again
/// each time it is bound with new values, so cached statements on the hot path were re-parsed
/// and re-planned at every phone request (6% of a storm's server CPU, BENCHMARKS.md). The plans
/// of the store's statements do not depend on the values.
fn keep_plans(connection: &Connection) -> StoreResult<()> {
    connection.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Applies the migrations not yet applied. A database made by an earlier build (sqlx's migrator)
/// already has the first schema but no `user_version`: it is recognised by its tables.
fn migrate(connection: &mut Connection) -> StoreResult<()> {
    let mut version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == 0 {
        let existing: i64 = connection.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'devices'",
            [],
            |row| row.get(0),
        )?;
        if existing > 0 {
            version = 1;
            connection.pragma_update(None, "user_version", 1)?;
        }
    }
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        let tx = connection.transaction()?;
        tx.execute_batch(migration)
            .map_err(|e| StoreError::Migration(format!("migration {}: {e}", number + 1)))?;
        tx.pragma_update(None, "user_version", number as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A [`DeviceSummary`] from a row of `devices` joined with `device_security` (`security_state`).
fn summary_row(row: &Row<'_>) -> rusqlite::Result<DeviceSummary> {
    Ok(DeviceSummary {
        mac: row.get("mac")?,
        e164: row.get("e164")?,
        device_type: row.get("device_type")?,
        software_version: row.get("software_version")?,
        group: row.get("group_name")?,
        other_groups: split_groups(&row.get::<_, String>("other_groups")?),
        last_contact: row.get("last_contact")?,
        last_reason: row.get("last_reason")?,
        remote_addr: row.get("remote_addr")?,
        security_state: row.get("security_state")?,
        tls_offer: row.get("tls_offer")?,
        approval: row.get("approval")?,
    })
}

/// The stored further groups as one `instr` haystack: `,a,b,` (`''` for none).
pub(crate) fn group_haystack(groups: &[String]) -> String {
    if groups.is_empty() { String::new() } else { format!(",{},", join_groups(groups)) }
}

/// SQL that is true when the device row (`row` is its alias with a dot, or empty) is in the
/// group `name` (an SQL expression), as its first group or a further one.
pub(crate) fn member_of(row: &str, name: &str) -> String {
    format!("({row}group_name = {name} OR instr(',' || {row}other_groups || ',', ',' || {name} || ',') > 0)")
}

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<(DeviceRecord, String, String)> {
    let mut device = DeviceRecord::new(row.get("mac")?, row.get("first_seen")?);
    device.e164 = row.get("e164")?;
    device.device_type = row.get("device_type")?;
    device.software_version = row.get("software_version")?;
    device.contact_me_uri = row.get("contact_me_uri")?;
    device.group = row.get("group_name")?;
    device.other_groups = split_groups(&row.get::<_, String>("other_groups")?);
    device.last_contact = row.get("last_contact")?;
    device.last_reason = row.get("last_reason")?;
    device.remote_addr = row.get("remote_addr")?;
    device.inventory_read_at = row.get("inventory_read_at")?;
    device.tls_offer = row.get("tls_offer")?;
    // A value that does not read is an error, never `approved`: approval gates configuration.
    device.approval = row.get::<_, String>("approval")?.parse().map_err(|why: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, why.into())
    })?;
    Ok((device, row.get("reported")?, row.get("flagged")?))
}

fn load_device(
    connection: &Connection,
    mac: &str,
    secrets: &SecretKeys,
) -> StoreResult<Option<DeviceRecord>> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE mac = ?1");
    let Some((mut device, reported, flagged)) =
        connection.prepare_cached(&sql)?.query_row(params![mac], device_from_row).optional()?
    else {
        return Ok(None);
    };
    crate::columns::open_device_documents(&mut device, &reported, &flagged, secrets)?;
    Ok(Some(device))
}

fn failure_from_row(row: &Row<'_>) -> rusqlite::Result<WriteFailure> {
    Ok(WriteFailure {
        key: ItemKey::new(row.get::<_, String>("name")?, index_from_column(row.get("item_index")?)),
        value: row.get("value")?,
        status: row.get("status")?,
        at: row.get("at")?,
    })
}

fn desired_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, i64, String)> {
    Ok((
        row.get("scope")?,
        row.get("scope_key")?,
        row.get("name")?,
        row.get("item_index")?,
        row.get("value")?,
    ))
}
