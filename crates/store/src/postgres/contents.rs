//! The content of stored files kept in the database, so that every node of a cluster can serve
//! a file uploaded to any of them: in chunks, written in one transaction, read one chunk at a
//! time (a node's memory holds one chunk per transfer, whatever the file's size).

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::batch::{Batch, owned};
use super::{PostgresStore, execute, query, query_opt};
use crate::{StoreError, StoreResult};

/// Bytes per chunk: large enough that a 100 MB image is a hundred rows, small enough that a
/// chunk in memory does not matter.
const CHUNK_BYTES: usize = 1024 * 1024;

/// How long a removal is listed for the nodes that still hold the content: a node down longer
/// keeps its copy (harmless: nothing names it, nothing serves it).
const REMOVALS_KEPT_SECS: i64 = 90 * 86_400;

impl PostgresStore {
    pub(super) async fn keep_content(&self, sha256: &str, path: &Path) -> StoreResult<()> {
        let size = tokio::fs::metadata(path).await.map_err(io_error)?.len();
        let chunks = i32::try_from(size.div_ceil(CHUNK_BYTES as u64))
            .map_err(|_| StoreError::Internal(format!("{} is too large to keep", path.display())))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Uploaded again: no node deletes its copy any more.
        execute(&tx, "DELETE FROM removed_contents WHERE sha256 = $1", &[&sha256]).await?;
        // A second node sharing the same content at once waits here for the first to commit,
        // then finds it kept.
        let claimed = execute(
            &tx,
            "INSERT INTO kept_contents (sha256, size, chunks) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&sha256, &(size as i64), &chunks],
        )
        .await?;
        if claimed == 0 {
            tx.commit().await?;
            return Ok(());
        }
        let mut file = tokio::fs::File::open(path).await.map_err(io_error)?;
        let mut buffer = Vec::with_capacity(CHUNK_BYTES);
        for chunk in 0..chunks {
            buffer.clear();
            (&mut file).take(CHUNK_BYTES as u64).read_to_end(&mut buffer).await.map_err(io_error)?;
            execute(
                &tx,
                "INSERT INTO content_chunks (sha256, chunk, data) VALUES ($1, $2, $3)",
                &[&sha256, &chunk, &buffer.as_slice()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn write_kept_content(&self, sha256: &str, into: &Path) -> StoreResult<bool> {
        let client = self.client().await?;
        let Some(row) =
            query_opt(&client, "SELECT chunks FROM kept_contents WHERE sha256 = $1", &[&sha256]).await?
        else {
            return Ok(false);
        };
        let chunks: i32 = row.try_get(0)?;
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(into).await.map_err(io_error)?;
        for chunk in 0..chunks {
            let sql = "SELECT data FROM content_chunks WHERE sha256 = $1 AND chunk = $2";
            let Some(row) = query_opt(&client, sql, &[&sha256, &chunk]).await? else {
                return Err(StoreError::Corrupt(format!("kept content {sha256} lacks chunk {chunk}")));
            };
            file.write_all(row.try_get::<_, &[u8]>(0)?).await.map_err(io_error)?;
        }
        file.sync_all().await.map_err(io_error)?;
        Ok(true)
    }

    pub(super) async fn drop_kept_content(&self, sha256: &str) -> StoreResult<()> {
        let mut batch = Batch::default();
        // Unless a stored file names it again meanwhile (an upload of the same content on
        // another node records the file before it shares the content).
        let unnamed = "NOT EXISTS (SELECT 1 FROM stored_files WHERE sha256 = $1)";
        batch.push(
            format!("DELETE FROM kept_contents WHERE sha256 = $1 AND {unnamed}"),
            owned![sha256.to_owned()],
        );
        batch.push(
            format!(
                "INSERT INTO removed_contents (sha256, removed_at) \
                 SELECT $1, extract(epoch FROM now())::bigint WHERE {unnamed} \
                 ON CONFLICT (sha256) DO UPDATE SET removed_at = excluded.removed_at"
            ),
            owned![sha256.to_owned()],
        );
        batch.push(
            format!(
                "DELETE FROM removed_contents WHERE removed_at < extract(epoch FROM now())::bigint - {}",
                REMOVALS_KEPT_SECS
            ),
            Vec::new(),
        );
        batch.commit(&self.client().await?).await
    }

    pub(super) async fn listed_removed_contents(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT sha256 FROM removed_contents r \
                   WHERE NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.sha256 = r.sha256) ORDER BY sha256";
        let rows = query(&self.client().await?, sql, &[]).await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Internal(format!("content file: {error}"))
}
