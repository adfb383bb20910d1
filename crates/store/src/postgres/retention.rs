//! [`RetentionStore`] on PostgreSQL: deletes in batches, each its own transaction, so that no
//! long transaction holds back the phones' writes or the vacuum.

use super::{PostgresStore, execute};
use crate::StoreResult;
use crate::retention::{Pruned, RetentionStore};

/// Rows deleted per statement by age.
const BATCH: i64 = 5_000;

impl RetentionStore for PostgresStore {
    async fn prune_history(&self, before: Option<i64>, keep_per_device: Option<u32>) -> StoreResult<Pruned> {
        let mut pruned = Pruned::default();
        let client = self.client().await?;
        if let Some(before) = before {
            loop {
                let deleted = execute(
                    &client,
                    "DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < $1 LIMIT $2)",
                    &[&before, &BATCH],
                )
                .await?;
                pruned.by_age += deleted;
                if (deleted as i64) < BATCH {
                    break;
                }
            }
        }
        if let Some(keep) = keep_per_device.filter(|k| *k > 0) {
            // Everything older than each crowded device's keep-th newest entry.
            pruned.by_count = execute(
                &client,
                "DELETE FROM history h USING (SELECT id FROM (SELECT id, row_number() OVER \
                 (PARTITION BY mac ORDER BY id DESC) AS newer FROM history WHERE mac IN \
                 (SELECT mac FROM history GROUP BY mac HAVING count(*) > $1)) ranked WHERE newer > $1) old \
                 WHERE h.id = old.id",
                &[&i64::from(keep)],
            )
            .await?;
        }
        Ok(pruned)
    }
}
