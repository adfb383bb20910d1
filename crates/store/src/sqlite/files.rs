//! [`FileStore`] on SQLite.

use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::files::{FileKind, FileRemoval, FileStore, NewStoredFile, StoredFile};
use crate::{StoreError, StoreResult};

const COLUMNS: &str = "id, kind, file_type, name, sha256, size, version, models, added_at";

fn stored_row(row: &Row<'_>) -> rusqlite::Result<(i64, String, NewStoredFile, String, i64)> {
    let file = NewStoredFile {
        kind: FileKind::File,
        file_type: row.get(2)?,
        name: row.get(3)?,
        sha256: row.get(4)?,
        size: row.get::<_, i64>(5)? as u64,
        version: row.get(6)?,
        models: Vec::new(),
    };
    Ok((row.get(0)?, row.get(1)?, file, row.get(7)?, row.get(8)?))
}

fn stored_from(row: (i64, String, NewStoredFile, String, i64)) -> StoreResult<StoredFile> {
    let (id, kind, mut file, models, added_at) = row;
    file.kind = crate::files::kind_from_column(&kind)?;
    file.models = serde_json::from_str(&models).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(StoredFile { id, file, added_at })
}

impl FileStore for SqliteStore {
    async fn add_stored_file(&self, file: NewStoredFile, now: i64) -> StoreResult<StoredFile> {
        self.write(move |connection| {
            let models =
                serde_json::to_string(&file.models).map_err(|e| StoreError::Internal(e.to_string()))?;
            // Looked for first: an insert that does nothing would still use up a number.
            let taken = connection
                .prepare_cached("SELECT 1 FROM stored_files WHERE kind = ?1 AND name = ?2")?
                .exists(params![file.kind.as_str(), file.name])?;
            let inserted = if taken {
                0
            } else {
                connection.execute(
                "INSERT INTO stored_files (kind, file_type, name, sha256, size, version, models, added_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (kind, name) DO NOTHING",
                params![
                    file.kind.as_str(),
                    file.file_type,
                    file.name,
                    file.sha256,
                    file.size as i64,
                    file.version,
                    models,
                    now
                ],
            )?
            };
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "a {} named {} is stored already (remove it first, or give another --name)",
                    file.kind.as_str(),
                    file.name
                )));
            }
            Ok(StoredFile { id: connection.last_insert_rowid(), file, added_at: now })
        })
        .await
    }

    async fn stored_files(&self, kind: Option<FileKind>) -> StoreResult<Vec<StoredFile>> {
        self.read(move |connection| {
            let sql = format!(
                "SELECT {COLUMNS} FROM stored_files WHERE ?1 IS NULL OR kind = ?1 ORDER BY added_at DESC, id DESC"
            );
            let rows = connection
                .prepare_cached(&sql)?
                .query_map(params![kind.map(FileKind::as_str)], stored_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(stored_from).collect()
        })
        .await
    }

    async fn stored_file(&self, id: i64) -> StoreResult<Option<StoredFile>> {
        self.read(move |connection| {
            let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE id = ?1");
            let row = connection.prepare_cached(&sql)?.query_row(params![id], stored_row).optional()?;
            row.map(stored_from).transpose()
        })
        .await
    }

    async fn remove_stored_file(&self, id: i64) -> StoreResult<FileRemoval> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let sql = format!(
                "SELECT DISTINCT f.job_id FROM job_files f JOIN job_targets t ON t.job_id = f.job_id \
                 WHERE f.file_id = ?1 AND t.state IN {} ORDER BY f.job_id",
                super::rollouts::UNFINISHED
            );
            let jobs = tx
                .prepare(&sql)?
                .query_map(params![id], |row| row.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let pins = tx
                .prepare("SELECT model, group_name FROM firmware_pins WHERE file_id = ?1 ORDER BY model")?
                .query_map(params![id], |row| {
                    let (model, group): (String, String) = (row.get(0)?, row.get(1)?);
                    Ok(if group.is_empty() { model } else { format!("{model} in group {group}") })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if !jobs.is_empty() || !pins.is_empty() {
                return Ok(FileRemoval::InUse { jobs, pins });
            }
            let sha: Option<String> = tx
                .query_row("DELETE FROM stored_files WHERE id = ?1 RETURNING sha256", params![id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(sha) = sha else { return Ok(FileRemoval::NotFound) };
            let others: i64 =
                tx.query_row("SELECT count(*) FROM stored_files WHERE sha256 = ?1", params![sha], |r| {
                    r.get(0)
                })?;
            tx.commit()?;
            Ok(FileRemoval::Removed { last_copy: others == 0 })
        })
        .await
    }
}
