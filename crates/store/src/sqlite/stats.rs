//! [`StatsStore`] on SQLite: the shared statements on one reader connection.

use opendls_engine::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use crate::StoreResult;
use crate::stats::{FleetStats, StatementRows, StatsStore, statements, times};

impl StatsStore for SqliteStore {
    async fn fleet_stats(&self, now: Timestamp) -> StoreResult<FleetStats> {
        let (hour_ago, day_ago, expiry_end) = times(now);
        self.read(move |connection| {
            let seen =
                connection.prepare_cached(statements::SEEN)?.query_row(params![hour_ago, day_ago], |r| {
                    Ok([r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64])
                })?;
            let expiring: i64 = connection
                .prepare_cached(statements::EXPIRING)?
                .query_row(params![expiry_end], |r| r.get(0))?;
            let jobs = connection
                .prepare_cached(&statements::jobs())?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(FleetStats::fold(StatementRows {
                seen,
                by_model: labelled(connection, statements::BY_MODEL)?,
                by_firmware: labelled(connection, statements::BY_FIRMWARE)?,
                by_security_state: labelled(connection, statements::BY_SECURITY_STATE)?,
                jobs,
                certificates: labelled(connection, statements::CERTIFICATES)?,
                expiring: expiring as u64,
            }))
        })
        .await
    }
}

/// The `(label, count)` rows of a grouping statement.
fn labelled(connection: &Connection, sql: &str) -> StoreResult<Vec<(String, u64)>> {
    Ok(connection
        .prepare_cached(sql)?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}
