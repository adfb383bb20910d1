//! Deleting this node's copies of contents removed on any node. Each node keeps its own copy of
//! what it stores or serves; the node that removes a content's last file deletes its copy at
//! once, the others when they next tidy: at start, then every hour. Only contents the database
//! lists as removed ([`FileStore::removed_contents`]) are deleted, never one it does not know.

use std::sync::Arc;
use std::time::Duration;

use opendls_store::FileStore;
use tokio_util::sync::CancellationToken;

use super::{Vault, share_held};

/// How often a node tidies after its start.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes this node's copies of the contents the database lists as removed; how many.
pub async fn tidy_once<S: FileStore>(vault: &Vault, store: &S) -> opendls_store::StoreResult<usize> {
    if !store.shares_content() {
        return Ok(0);
    }
    // Held from the listing to the deletions: an upload on this node that finds one of these
    // contents waits, then finds none and keeps its own bytes.
    let removing = vault.removing().await;
    let mut deleted = 0;
    for sha256 in store.removed_contents().await? {
        if vault.path(&sha256).is_none() {
            continue;
        }
        match vault.remove(&sha256, &removing).await {
            Ok(()) => deleted += 1,
            Err(error) => tracing::warn!(%error, %sha256, "a removed file's content stays on this node"),
        }
    }
    Ok(deleted)
}

/// Offers the database what this node holds ([`share_held`]), then tidies now and every hour
/// until `shutdown`.
pub async fn keep_tidy<S: FileStore>(vault: Arc<Vault>, store: Arc<S>, shutdown: CancellationToken) {
    if !store.shares_content() {
        return shutdown.cancelled().await;
    }
    share_held(vault.clone(), store.clone()).await;
    loop {
        match tidy_once(&vault, store.as_ref()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "contents removed on another node were deleted here"),
            Err(error) => {
                tracing::warn!(%error, "removed contents could not be listed; trying again in an hour")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
