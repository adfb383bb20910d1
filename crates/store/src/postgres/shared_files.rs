//! Files every node of a cluster must hold alike (the CA, the key that seals secrets, the admin
//! token), kept in the database so that a new node takes them at its first start instead of an
//! administrator copying them by hand.

use tokio_postgres::NoTls;

use super::redacted_url;
use crate::{StoreError, StoreResult};

/// The advisory lock a node holds while it compares and shares its files: two nodes starting
/// for the first time at once must not each create a CA.
const SHARING_LOCK: i64 = 0x6f70_656e_646c_7303;

/// The shared files, locked for one node until [`SharedFiles::unlock`].
pub struct SharedFiles {
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SharedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFiles").finish_non_exhaustive()
    }
}

impl SharedFiles {
    /// Connects to the database at `url` and waits for the sharing lock.
    pub async fn lock(url: &str) -> StoreResult<SharedFiles> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
            StoreError::Database(format!(
                "postgres: cannot connect to {}: {}",
                redacted_url(url),
                super::describe(&e)
            ))
        })?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        // Its own table, outside the migrations: it is read before the store is opened (the
        // key that seals secrets, which the store needs, may be in it).
        client
            .batch_execute(&format!(
                "SET client_min_messages = warning; SELECT pg_advisory_lock({SHARING_LOCK}); \
                 CREATE TABLE IF NOT EXISTS opendls_shared_files (name TEXT PRIMARY KEY NOT NULL, \
                 content BYTEA NOT NULL, shared_at BIGINT NOT NULL)"
            ))
            .await?;
        Ok(SharedFiles { client, connection })
    }

    /// The content the cluster shares under `name`, if any.
    pub async fn get(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = self
            .client
            .query_opt("SELECT content FROM opendls_shared_files WHERE name = $1", &[&name])
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// Shares `content` under `name`, unless something is shared under it already.
    pub async fn put(&self, name: &str, content: &[u8], now: i64) -> StoreResult<()> {
        self.client
            .execute(
                "INSERT INTO opendls_shared_files (name, content, shared_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &content, &now],
            )
            .await?;
        Ok(())
    }

    /// Replaces what is shared under `name` (a key file rotated on this node).
    pub async fn replace(&self, name: &str, content: &[u8], now: i64) -> StoreResult<()> {
        self.client
            .execute(
                "INSERT INTO opendls_shared_files (name, content, shared_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET content = excluded.content, shared_at = excluded.shared_at",
                &[&name, &content, &now],
            )
            .await?;
        Ok(())
    }

    /// Releases the lock and the connection.
    pub async fn unlock(self) {
        let _ = self.client.batch_execute(&format!("SELECT pg_advisory_unlock({SHARING_LOCK})")).await;
        drop(self.client);
        let _ = self.connection.await;
    }
}
