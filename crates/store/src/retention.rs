//! Retention: a device's history would grow for as long as the phone lives; old entries are
//! pruned by age and by count per device (`[database] history_days`, `history_per_device`).

use std::future::Future;

use opendls_engine::Timestamp;

use crate::StoreResult;

/// What a pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// History entries older than the cut-off.
    pub by_age: u64,
    /// History entries beyond a device's newest `keep_per_device`.
    pub by_count: u64,
}

/// Storage that prunes what it keeps.
pub trait RetentionStore: Send + Sync + 'static {
    /// Removes history entries older than `before` (if given) and, of every device with more,
    /// all but the newest `keep_per_device` (if given, at least 1). Works in small batches so
    /// that phones are not held up.
    fn prune_history(
        &self,
        before: Option<Timestamp>,
        keep_per_device: Option<u32>,
    ) -> impl Future<Output = StoreResult<Pruned>> + Send;
}
