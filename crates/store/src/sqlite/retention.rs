//! [`RetentionStore`] on SQLite: deletes in batches, each its own write, so the writer is free
//! for phone steps between them.

use rusqlite::params;

use super::SqliteStore;
use crate::StoreResult;
use crate::retention::{Pruned, RetentionStore};

/// Rows deleted per write by age; devices trimmed per write by count.
const BATCH: i64 = 5_000;
const DEVICES_PER_WRITE: usize = 200;

impl RetentionStore for SqliteStore {
    async fn prune_history(&self, before: Option<i64>, keep_per_device: Option<u32>) -> StoreResult<Pruned> {
        let mut pruned = Pruned::default();
        if let Some(before) = before {
            loop {
                let deleted = self
                    .write(move |connection| {
                        Ok(connection
                            .prepare_cached(
                                "DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < ?1 LIMIT ?2)",
                            )?
                            .execute(params![before, BATCH])?)
                    })
                    .await?;
                pruned.by_age += deleted as u64;
                if (deleted as i64) < BATCH {
                    break;
                }
            }
        }
        if let Some(keep) = keep_per_device.filter(|k| *k > 0) {
            let crowded: Vec<String> = self
                .read(move |connection| {
                    Ok(connection
                        .prepare("SELECT mac FROM history GROUP BY mac HAVING count(*) > ?1")?
                        .query_map(params![keep], |row| row.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?)
                })
                .await?;
            for macs in crowded.chunks(DEVICES_PER_WRITE) {
                let macs = macs.to_vec();
                pruned.by_count += self
                    .write(move |connection| {
                        let tx = connection.transaction()?;
                        let mut deleted = 0;
                        {
                            // Everything older than the device's keep-th newest entry.
                            let mut trim = tx.prepare_cached(
                                "DELETE FROM history WHERE mac = ?1 AND id < \
                                 (SELECT id FROM history WHERE mac = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                            )?;
                            for mac in &macs {
                                deleted += trim.execute(params![mac, keep - 1])? as u64;
                            }
                        }
                        tx.commit()?;
                        Ok(deleted)
                    })
                    .await?;
            }
        }
        Ok(pruned)
    }
}
