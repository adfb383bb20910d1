//! The PostgreSQL implementation, for several opendls nodes sharing one database: tokio-postgres
//! with a deadpool connection pool, statements prepared once per connection.
//!
//! The phone's hot path costs one round trip to read and one to write: the reads of a request
//! are sent together on one connection (tokio-postgres pipelines queries polled at once), and
//! a decision's transaction goes out whole, `BEGIN` to `COMMIT` (`postgres/batch.rs`). Everything that
//! must hold across nodes is decided by the database: a job target claimed by a decision is
//! updated only while unfinished (a second node's claim finds it finished and the database
//! refuses the decision), and migrations take an advisory lock so that nodes starting together
//! migrate once.

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use opendls_engine::{DeviceRecord, ItemKey, WriteFailure};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::columns::{index_from_column, split_groups};
use crate::secrets::SecretKeys;
use crate::{DeviceSummary, StoreError, StoreResult};

mod accounts;
mod admin;
mod audit;
mod batch;
mod contents;
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
mod shared_files;
mod site;
mod stats;
mod variables;

pub use shared_files::SharedFiles;

/// Schema versions, applied in order; `opendls_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_schema.sql"),
    include_str!("../migrations/postgres/0002_kept_contents.sql"),
    include_str!("../migrations/postgres/0003_claims.sql"),
    include_str!("../migrations/postgres/0004_removed_contents.sql"),
    include_str!("../migrations/postgres/0005_accounts.sql"),
    include_str!("../migrations/postgres/0006_sessions.sql"),
];

/// Any number: the key of the advisory lock every node takes while it migrates.
const MIGRATION_LOCK: i64 = 0x6f70_656e_646c_7301;

/// Connections a node keeps at most (the phone path holds one per request for a few
/// milliseconds; PostgreSQL's default `max_connections` is 100, shared by every node).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Parameters of one statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// opendls' database on a PostgreSQL server.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// Seals secret values before they are written and opens them when read ([`crate::secrets`]).
    secrets: Arc<SecretKeys>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("pool", &self.pool.status()).finish_non_exhaustive()
    }
}

/// Errors of the PostgreSQL driver, named as this backend's. The server's own message (a
/// constraint, a missing table) is kept: the driver's display alone says only "db error".
impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if let Some(refused) = error.as_db_error().filter(|db| db.code().code() == batch::CLAIM_REFUSED) {
            return StoreError::Conflict(refused.message().to_owned());
        }
        StoreError::Database(format!("postgres: {}", describe(&error)))
    }
}

/// What went wrong, as the server said it (`FATAL: password authentication failed ...`) or
/// else as the driver did.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.to_string(),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => StoreError::Database(format!("postgres: no connection: {other}")),
        }
    }
}

/// The address of a database without its password, for logs and errors.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`, or the
    /// key-value form libpq takes), applies migrations, and seals secrets with `keys`.
    pub async fn open(url: &str, keys: SecretKeys, pool_size: usize) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Database(format!(
                "postgres: cannot read the address {}: {}",
                redacted_url(url),
                describe(&e)
            ))
        })?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Internal(format!("postgres pool: {e}")))?;
        let store = PostgresStore { pool, secrets: Arc::new(keys) };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not yet applied, one node at a time.
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning; \
             CREATE TABLE IF NOT EXISTS opendls_schema (version BIGINT NOT NULL)",
        )
        .await?;
        let version: i64 = match tx.query_opt("SELECT version FROM opendls_schema", &[]).await? {
            Some(row) => row.try_get(0)?,
            None => {
                tx.execute("INSERT INTO opendls_schema (version) VALUES (0)", &[]).await?;
                0
            }
        };
        let applied = usize::try_from(version).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::Migration(format!(
                "the database is at schema version {version}, newer than this build knows ({}): \
                 an opendls node of a newer release migrated it",
                MIGRATIONS.len()
            )));
        }
        for (number, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.batch_execute(migration)
                .await
                .map_err(|e| StoreError::Migration(format!("migration {}: {}", number + 1, describe(&e))))?;
            tx.execute("UPDATE opendls_schema SET version = $1", &[&(number as i64 + 1)]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }
}

impl crate::Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// Runs one statement (prepared once per connection) and returns its rows.
async fn query(db: &impl GenericClient, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query(&statement, params).await?)
}

/// Runs one statement and returns its row, if any.
async fn query_opt(db: &impl GenericClient, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&statement, params).await?)
}

/// Runs one statement and returns how many rows it changed.
async fn execute(db: &impl GenericClient, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.execute(&statement, params).await?)
}

/// Whether a statement returns a row.
async fn exists(db: &impl GenericClient, sql: &str, params: Params<'_>) -> StoreResult<bool> {
    Ok(query_opt(db, sql, params).await?.is_some())
}

/// SQL that is true when the device row (`row` is its alias with a dot, or empty) is in the
/// group `name` (an SQL expression), as its first group or a further one.
pub(crate) fn member_of(row: &str, name: &str) -> String {
    format!("({row}group_name = {name} OR strpos(',' || {row}other_groups || ',', ',' || {name} || ',') > 0)")
}

/// SQL that is true when `column` matches the shell pattern `pattern` (an SQL expression) in any
/// case, as SQLite's `lower(column) GLOB lower(pattern)` (`opendls_glob` is in the schema).
pub(crate) fn glob(column: &str, pattern: &str) -> String {
    format!("(lower({column}) ~ opendls_glob(lower({pattern})))")
}

/// A [`DeviceSummary`] from a row of [`crate::columns::SUMMARY_COLUMNS`].
fn summary_row(row: &Row) -> StoreResult<DeviceSummary> {
    Ok(DeviceSummary {
        mac: row.try_get("mac")?,
        e164: row.try_get("e164")?,
        device_type: row.try_get("device_type")?,
        software_version: row.try_get("software_version")?,
        group: row.try_get("group_name")?,
        other_groups: split_groups(row.try_get("other_groups")?),
        last_contact: row.try_get("last_contact")?,
        last_reason: row.try_get("last_reason")?,
        remote_addr: row.try_get("remote_addr")?,
        security_state: row.try_get("security_state")?,
        tls_offer: row.try_get("tls_offer")?,
        approval: row.try_get("approval")?,
    })
}

/// A device from a row of [`crate::columns::DEVICE_COLUMNS`], its documents opened.
fn device_from_row(row: &Row, secrets: &SecretKeys) -> StoreResult<DeviceRecord> {
    let mut device = DeviceRecord::new(row.try_get("mac")?, row.try_get("first_seen")?);
    device.e164 = row.try_get("e164")?;
    device.device_type = row.try_get("device_type")?;
    device.software_version = row.try_get("software_version")?;
    device.contact_me_uri = row.try_get("contact_me_uri")?;
    device.group = row.try_get("group_name")?;
    device.other_groups = split_groups(row.try_get("other_groups")?);
    device.last_contact = row.try_get("last_contact")?;
    device.last_reason = row.try_get("last_reason")?;
    device.remote_addr = row.try_get("remote_addr")?;
    device.inventory_read_at = row.try_get("inventory_read_at")?;
    device.tls_offer = row.try_get("tls_offer")?;
    // A value that does not read is an error, never `approved`: approval gates configuration.
    device.approval = row.try_get::<_, String>("approval")?.parse().map_err(StoreError::Corrupt)?;
    crate::columns::open_device_documents(
        &mut device,
        row.try_get("reported")?,
        row.try_get("flagged")?,
        secrets,
    )?;
    Ok(device)
}

async fn load_device(
    db: &impl GenericClient,
    mac: &str,
    secrets: &SecretKeys,
) -> StoreResult<Option<DeviceRecord>> {
    let sql = format!("SELECT {} FROM devices WHERE mac = $1", crate::columns::DEVICE_COLUMNS);
    query_opt(db, &sql, &[&mac]).await?.map(|row| device_from_row(&row, secrets)).transpose()
}

fn failure_from_row(row: &Row) -> StoreResult<WriteFailure> {
    Ok(WriteFailure {
        key: ItemKey::new(row.try_get::<_, String>("name")?, index_from_column(row.try_get("item_index")?)),
        value: row.try_get("value")?,
        status: row.try_get("status")?,
        at: row.try_get("at")?,
    })
}

fn desired_row(row: &Row) -> StoreResult<(String, String, String, i64, String)> {
    Ok((
        row.try_get("scope")?,
        row.try_get("scope_key")?,
        row.try_get("name")?,
        row.try_get("item_index")?,
        row.try_get("value")?,
    ))
}

/// Desired rows, opened.
fn desired_entries(rows: &[Row], secrets: &SecretKeys) -> StoreResult<Vec<opendls_engine::DesiredEntry>> {
    rows.iter().map(|row| crate::columns::desired_entry(desired_row(row)?, secrets)).collect()
}

/// A count as the API reports it.
fn count(row: &Row, index: usize) -> StoreResult<u64> {
    Ok(u64::try_from(row.try_get::<_, i64>(index)?).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_address_is_logged_without_its_password() {
        assert_eq!(
            super::redacted_url("postgres://opendls:s3cret@db.example:5432/opendls"),
            "postgres://opendls:***@db.example:5432/opendls"
        );
        assert_eq!(super::redacted_url("postgres://db/opendls"), "postgres://db/opendls");
        assert_eq!(super::redacted_url("host=db user=x"), "host=db user=x");
    }
}

/// Scratch schemas for tests: one empty schema per test on a shared server, dropped afterwards.
#[doc(hidden)]
pub mod testing {
    /// Drops a test's schema when dropped.
    #[derive(Debug)]
    pub struct ScratchSchema {
        url: String,
        schema: String,
    }

    impl Drop for ScratchSchema {
        fn drop(&mut self) {
            let (url, schema) = (self.url.clone(), self.schema.clone());
            // Not joined: connections served by the test's runtime still hold their locks until
            // this returns. Schemas of a run that ended before this finished are dropped by the
            // next run ([`scratch_schema`]).
            std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                runtime.block_on(async {
                    let Ok((client, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                    else {
                        return;
                    };
                    tokio::spawn(connection);
                    let drop = format!("SET lock_timeout = '1s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                    for _ in 0..20 {
                        if client.batch_execute(&drop).await.is_ok() {
                            break;
                        }
                    }
                });
            });
        }
    }

    /// A new, empty schema on the server at `url`, and an address whose connections use it.
    pub async fn scratch_schema(url: &str) -> (String, ScratchSchema) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let schema = format!("opendls_test_{}_{n}", std::process::id());
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("test server");
        tokio::spawn(connection);
        if n == 0 {
            drop_abandoned(&client).await;
        }
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("a schema for the test");
        let separator = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
        (scoped, ScratchSchema { url: url.to_owned(), schema })
    }

    /// Drops the schemas of test runs whose process is gone.
    async fn drop_abandoned(client: &tokio_postgres::Client) {
        let sql = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'opendls\\_test\\_%'";
        let Ok(rows) = client.query(sql, &[]).await else { return };
        for row in rows {
            let schema: String = row.get(0);
            let pid = schema.split('_').nth(2).unwrap_or_default();
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }
        }
    }
}
