//! Pruning a device's history by age and count, every hour (`[database] history_days`,
//! `history_per_device`), so that years of a large fleet do not fill the disk.

use std::sync::Arc;
use std::time::Duration;

use opendls_store::RetentionStore;
use tokio_util::sync::CancellationToken;

use crate::config::Database;
use crate::phone::unix_now;

/// How often history is pruned.
pub const EVERY: Duration = Duration::from_secs(3600);

/// The first pruning waits this long after start, so that a restart under a boot storm does not
/// add database work to it.
const FIRST_AFTER: Duration = Duration::from_secs(300);

/// The pruning task.
pub struct Retention<S> {
    store: Arc<S>,
    days: u32,
    per_device: u32,
}

impl<S: RetentionStore> Retention<S> {
    /// A task pruning `store` as `database` says.
    pub fn new(store: Arc<S>, database: &Database) -> Self {
        Retention { store, days: database.history_days, per_device: database.history_per_device }
    }

    /// Prunes once now: entries older than the cut-off and beyond the per-device count.
    pub async fn prune_once(&self, now: i64) -> opendls_store::StoreResult<opendls_store::Pruned> {
        let before = (self.days > 0).then(|| now - i64::from(self.days) * 86_400);
        let keep = (self.per_device > 0).then_some(self.per_device);
        self.store.prune_history(before, keep).await
    }

    /// Prunes every hour until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.days == 0 && self.per_device == 0 {
            return shutdown.cancelled().await;
        }
        let mut wait = FIRST_AFTER;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = EVERY;
            match self.prune_once(unix_now()).await {
                Ok(pruned) if pruned.by_age + pruned.by_count > 0 => {
                    tracing::info!(by_age = pruned.by_age, by_count = pruned.by_count, "history pruned");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "history could not be pruned; trying again in an hour"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opendls_store::{Pruned, StoreResult};

    use super::*;

    /// Records what it is asked to prune.
    #[derive(Default)]
    struct Asked(Mutex<Vec<(Option<i64>, Option<u32>)>>);

    impl RetentionStore for Asked {
        async fn prune_history(&self, before: Option<i64>, keep: Option<u32>) -> StoreResult<Pruned> {
            self.0.lock().unwrap().push((before, keep));
            Ok(Pruned::default())
        }
    }

    #[tokio::test]
    async fn the_cut_off_is_days_before_now_and_zero_keeps_everything() {
        let store = Arc::new(Asked::default());
        let database = Database { history_days: 30, history_per_device: 500, ..Database::default() };
        Retention::new(store.clone(), &database).prune_once(10_000_000).await.unwrap();
        let unlimited = Database { history_days: 0, history_per_device: 0, ..Database::default() };
        Retention::new(store.clone(), &unlimited).prune_once(10_000_000).await.unwrap();
        let asked = store.0.lock().unwrap().clone();
        assert_eq!(asked, [(Some(10_000_000 - 30 * 86_400), Some(500)), (None, None)]);
    }
}
