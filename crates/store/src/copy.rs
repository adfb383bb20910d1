//! Copying an installation from its SQLite database to a PostgreSQL one (`opendls migrate`):
//! every table, row by row as stored (sealed values stay sealed with the same key), in one
//! PostgreSQL transaction, then the counts compared table by table.

use std::path::Path;

use rusqlite::types::Value;
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql, Type};

use crate::postgres::{describe, redacted_url};
use crate::secrets::SecretKeys;
use crate::{StoreError, StoreResult};

/// Every table, parents before children.
const TABLES: &[&str] = &[
    "devices",
    "desired_items",
    "policies",
    "interactions",
    "history",
    "write_failures",
    "jobs",
    "job_targets",
    "contact_schedule",
    "security_modes",
    "device_security",
    "certificates",
    "pins",
    "secrets_sealed_with",
    "stored_files",
    "job_files",
    "firmware_pins",
    "variables",
    "provisioned_devices",
    "accounts",
    "api_tokens",
    "sessions",
    "audit_log",
];

/// Tables whose `id` numbers continue after the copy (never given again).
const NUMBERED: &[&str] = &["history", "jobs", "stored_files", "provisioned_devices", "audit_log"];

/// Rows inserted per statement.
const BATCH: usize = 500;

/// One table copied: its name and the rows in the source and the target after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table.
    pub table: &'static str,
    /// Rows in the SQLite database.
    pub source: i64,
    /// Rows in the PostgreSQL database after the copy.
    pub target: i64,
}

/// Copies the SQLite database at `source` (its secrets sealed with the keys in `key_file`) into
/// the empty PostgreSQL database at `url`. Nothing is written unless every table copies; the counts of
/// every table are then compared, and a difference is an error.
pub async fn sqlite_to_postgres(source: &Path, url: &str, key_file: &Path) -> StoreResult<Vec<CopiedTable>> {
    let keys = || SecretKeys::load_or_create(key_file).map_err(|e| StoreError::Internal(e.to_string()));
    // Both schemas brought up to date by their own migrations first.
    let sqlite = crate::SqliteStore::open_with_keys(source, keys()?).await?;
    sqlite.close().await;
    let postgres = crate::PostgresStore::open(url, keys()?, 1).await?;
    crate::Store::close(&postgres).await;

    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
        StoreError::Database(format!("postgres: cannot connect to {}: {}", redacted_url(url), describe(&e)))
    })?;
    let connection = tokio::spawn(connection);
    let reader = rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tx = client.transaction().await?;
    for table in TABLES {
        let count: i64 = tx.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?.get(0);
        if count > 0 {
            return Err(StoreError::Conflict(format!(
                "the PostgreSQL database is not empty ({table} holds {count} rows): copy into a new database"
            )));
        }
    }
    for table in TABLES {
        copy_table(&reader, &tx, table).await?;
    }
    continue_numbers(&reader, &tx).await?;
    let mut copied = Vec::new();
    for table in TABLES {
        let source: i64 = reader.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))?;
        let target: i64 = tx.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?.get(0);
        if source != target {
            return Err(StoreError::Internal(format!("{table}: {source} rows in SQLite, {target} copied")));
        }
        copied.push(CopiedTable { table, source, target });
    }
    tx.commit().await?;
    drop(client);
    let _ = connection.await;
    Ok(copied)
}

/// Copies one table's rows, in the source's order (so that PostgreSQL's numbering follows it).
async fn copy_table(
    reader: &rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> StoreResult<()> {
    let columns: Vec<String> = reader
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let types = target_types(tx, table, &columns).await?;
    let mut select = reader.prepare(&format!("SELECT {} FROM {table} ORDER BY rowid", columns.join(", ")))?;
    let mut rows = select.query([])?;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            batch.push((0..columns.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?);
        }
        if batch.len() == BATCH || (row.is_none() && !batch.is_empty()) {
            insert(tx, table, &columns, &types, &batch).await?;
            batch.clear();
        }
        if row.is_none() {
            return Ok(());
        }
    }
}

/// The PostgreSQL type of each column.
async fn target_types(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[String],
) -> StoreResult<Vec<Type>> {
    let statement =
        tx.prepare(&format!("SELECT {} FROM {table} LIMIT 0", columns.join(", "))).await.map_err(|e| {
            StoreError::Migration(format!("{table} differs between the two schemas: {}", describe(&e)))
        })?;
    Ok(statement.columns().iter().map(|column| column.type_().clone()).collect())
}

/// A value as PostgreSQL takes it for a column of type `ty` (SQLite keeps flags as integers).
fn to_postgres(value: &Value, ty: &Type, table: &str) -> StoreResult<Box<dyn ToSql + Sync + Send>> {
    Ok(match (value, ty) {
        (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Integer(n), &Type::BOOL) => Box::new(*n != 0),
        (Value::Integer(n), &Type::INT8) => Box::new(*n),
        (Value::Integer(n), &Type::TEXT) => Box::new(n.to_string()),
        (Value::Text(text), &Type::TEXT) => Box::new(text.clone()),
        (Value::Blob(bytes), &Type::BYTEA) => Box::new(bytes.clone()),
        (value, ty) => {
            return Err(StoreError::Corrupt(format!(
                "{table}: a {:?} value for a {ty} column",
                value.data_type()
            )));
        }
    })
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[String],
    types: &[Type],
    rows: &[Vec<Value>],
) -> StoreResult<()> {
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    let mut tuples = Vec::with_capacity(rows.len());
    for row in rows {
        let marks: Vec<String> = (0..columns.len()).map(|i| format!("${}", values.len() + i + 1)).collect();
        tuples.push(format!("({})", marks.join(", ")));
        for (value, ty) in row.iter().zip(types) {
            values.push(to_postgres(value, ty, table)?);
        }
    }
    // Identity columns take the copied numbers.
    let sql = format!(
        "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE VALUES {}",
        columns.join(", "),
        tuples.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// Numbers continue after the highest ever given (SQLite's `sqlite_sequence` remembers numbers
/// of removed rows too, which must not be given again).
async fn continue_numbers(
    reader: &rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> StoreResult<()> {
    for table in NUMBERED {
        let given: i64 = reader
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [table], |row| row.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })?;
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 GREATEST($1::bigint, (SELECT COALESCE(max(id), 0) FROM {table}), 1), \
                 GREATEST($1::bigint, (SELECT COALESCE(max(id), 0) FROM {table})) > 0)"
            ),
            &[&given],
        )
        .await?;
    }
    Ok(())
}
