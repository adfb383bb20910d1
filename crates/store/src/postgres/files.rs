//! [`FileStore`] on PostgreSQL.

use tokio_postgres::Row;

use super::{PostgresStore, exists, query, query_opt};
use crate::columns::UNFINISHED;
use crate::files::{FileKind, FileRemoval, FileStore, NewStoredFile, StoredFile};
use crate::{StoreError, StoreResult};

const COLUMNS: &str = "id, kind, file_type, name, sha256, size, version, models, added_at";

fn stored_from(row: &Row) -> StoreResult<StoredFile> {
    let file = NewStoredFile {
        kind: crate::files::kind_from_column(row.try_get(1)?)?,
        file_type: row.try_get(2)?,
        name: row.try_get(3)?,
        sha256: row.try_get(4)?,
        size: u64::try_from(row.try_get::<_, i64>(5)?).unwrap_or(0),
        version: row.try_get(6)?,
        models: serde_json::from_str(row.try_get(7)?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    };
    Ok(StoredFile { id: row.try_get(0)?, file, added_at: row.try_get(8)? })
}

impl FileStore for PostgresStore {
    async fn add_stored_file(&self, file: NewStoredFile, now: i64) -> StoreResult<StoredFile> {
        let models = serde_json::to_string(&file.models).map_err(|e| StoreError::Internal(e.to_string()))?;
        let client = self.client().await?;
        // Looked for first: an insert that does nothing would still use up a number.
        let taken = exists(
            &client,
            "SELECT 1 FROM stored_files WHERE kind = $1 AND name = $2",
            &[&file.kind.as_str(), &file.name],
        )
        .await?;
        let inserted = match taken {
            true => None,
            false => {
                query_opt(
                    &client,
                    "INSERT INTO stored_files (kind, file_type, name, sha256, size, version, models, added_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, name) DO NOTHING RETURNING id",
                    &[
                        &file.kind.as_str(),
                        &file.file_type,
                        &file.name,
                        &file.sha256,
                        &(file.size as i64),
                        &file.version,
                        &models,
                        &now,
                    ],
                )
                .await?
            }
        };
        let Some(row) = inserted else {
            return Err(StoreError::Conflict(format!(
                "a {} named {} is stored already (remove it first, or give another --name)",
                file.kind.as_str(),
                file.name
            )));
        };
        Ok(StoredFile { id: row.try_get(0)?, file, added_at: now })
    }

    async fn stored_files(&self, kind: Option<FileKind>) -> StoreResult<Vec<StoredFile>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM stored_files WHERE $1::text IS NULL OR kind = $1 ORDER BY added_at DESC, id DESC"
        );
        query(&self.client().await?, &sql, &[&kind.map(FileKind::as_str)])
            .await?
            .iter()
            .map(stored_from)
            .collect()
    }

    async fn stored_file(&self, id: i64) -> StoreResult<Option<StoredFile>> {
        let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE id = $1");
        query_opt(&self.client().await?, &sql, &[&id]).await?.map(|row| stored_from(&row)).transpose()
    }

    async fn remove_stored_file(&self, id: i64) -> StoreResult<FileRemoval> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!(
            "SELECT DISTINCT f.job_id FROM job_files f JOIN job_targets t ON t.job_id = f.job_id \
             WHERE f.file_id = $1 AND t.state IN {UNFINISHED} ORDER BY f.job_id"
        );
        let jobs = query(&tx, &sql, &[&id])
            .await?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect::<StoreResult<Vec<i64>>>()?;
        let pins = query(
            &tx,
            "SELECT model, group_name FROM firmware_pins WHERE file_id = $1 ORDER BY model",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| {
            let (model, group): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            Ok(if group.is_empty() { model } else { format!("{model} in group {group}") })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        if !jobs.is_empty() || !pins.is_empty() {
            return Ok(FileRemoval::InUse { jobs, pins });
        }
        let Some(row) =
            query_opt(&tx, "DELETE FROM stored_files WHERE id = $1 RETURNING sha256", &[&id]).await?
        else {
            return Ok(FileRemoval::NotFound);
        };
        let sha: String = row.try_get(0)?;
        let others = exists(&tx, "SELECT 1 FROM stored_files WHERE sha256 = $1", &[&sha]).await?;
        tx.commit().await?;
        Ok(FileRemoval::Removed { last_copy: !others })
    }

    fn shares_content(&self) -> bool {
        true
    }

    async fn share_content(&self, sha256: &str, path: &std::path::Path) -> StoreResult<()> {
        self.keep_content(sha256, path).await
    }

    async fn fetch_content(&self, sha256: &str, into: &std::path::Path) -> StoreResult<bool> {
        self.write_kept_content(sha256, into).await
    }

    async fn forget_content(&self, sha256: &str) -> StoreResult<()> {
        self.drop_kept_content(sha256).await
    }

    async fn removed_contents(&self) -> StoreResult<Vec<String>> {
        self.listed_removed_contents().await
    }
}
