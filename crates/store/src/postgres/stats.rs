//! [`StatsStore`] on PostgreSQL: the shared statements, sent at once on one connection.

use opendls_engine::Timestamp;

use super::{Params, PostgresStore, count, query};
use crate::StoreResult;
use crate::stats::{FleetStats, StatementRows, StatsStore, statements, times};

impl StatsStore for PostgresStore {
    async fn fleet_stats(&self, now: Timestamp) -> StoreResult<FleetStats> {
        let (hour_ago, day_ago, expiry_end) = times(now);
        let db = self.client().await?;
        let jobs_sql = statements::jobs();
        let (seen_params, expiring_params): (Params, Params) = (&[&hour_ago, &day_ago], &[&expiry_end]);
        let (seen, expiring, jobs, by_model, by_firmware, by_security_state, certificates) = tokio::try_join!(
            query(&db, statements::SEEN, seen_params),
            query(&db, statements::EXPIRING, expiring_params),
            query(&db, &jobs_sql, &[]),
            labelled(&db, statements::BY_MODEL),
            labelled(&db, statements::BY_FIRMWARE),
            labelled(&db, statements::BY_SECURITY_STATE),
            labelled(&db, statements::CERTIFICATES),
        )?;
        let first = |rows: &[tokio_postgres::Row], index| rows.first().map_or(Ok(0), |row| count(row, index));
        Ok(FleetStats::fold(StatementRows {
            seen: [first(&seen, 0)?, first(&seen, 1)?, first(&seen, 2)?],
            by_model,
            by_firmware,
            by_security_state,
            jobs: jobs
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, count(row, 2)?)))
                .collect::<StoreResult<_>>()?,
            certificates,
            expiring: first(&expiring, 0)?,
        }))
    }
}

/// The `(label, count)` rows of a grouping statement.
async fn labelled(db: &deadpool_postgres::Client, sql: &str) -> StoreResult<Vec<(String, u64)>> {
    query(db, sql, &[]).await?.iter().map(|row| Ok((row.try_get(0)?, count(row, 1)?))).collect()
}
