//! [`AuditStore`] on PostgreSQL.

use super::{PostgresStore, query, query_opt};
use crate::StoreResult;
use crate::audit::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry};
use crate::columns::{AUDIT_COLUMNS, AUDIT_WHERE, audit_document, audit_text};

impl AuditStore for PostgresStore {
    async fn record_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let [request, before, after] = audit_text(&entry)?;
        let sql = "INSERT INTO audit_log (at, actor, via, source, action, target, status, request, before, after) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        let status = i64::from(entry.status);
        let params: super::Params = &[
            &entry.at,
            &entry.actor,
            &entry.via,
            &entry.source,
            &entry.action,
            &entry.target,
            &status,
            &request,
            &before,
            &after,
        ];
        let row = query_opt(&self.client().await?, sql, params).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?.unwrap_or_default())
    }

    async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let typed = AUDIT_WHERE
            .replace("$1 IS NULL", "$1::TEXT IS NULL")
            .replace("$2 IS NULL", "$2::TEXT IS NULL")
            .replace("$3 IS NULL", "$3::BIGINT IS NULL")
            .replace("$4 IS NULL", "$4::BIGINT IS NULL")
            .replace("$5 IS NULL", "$5::BIGINT IS NULL");
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {typed} ORDER BY id DESC LIMIT $6");
        let (pattern, limit) = (filter.like_pattern(), i64::from(filter.page()));
        let params: super::Params =
            &[&filter.actor, &pattern, &filter.since, &filter.until, &filter.before_id, &limit];
        let rows = query(&self.client().await?, &sql, params).await?;
        rows.iter()
            .map(|row| {
                let status: i64 = row.try_get(7)?;
                let entry = NewAuditEntry {
                    at: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    via: row.try_get(3)?,
                    source: row.try_get(4)?,
                    action: row.try_get(5)?,
                    target: row.try_get(6)?,
                    status: u16::try_from(status).unwrap_or_default(),
                    request: None,
                    before: None,
                    after: None,
                };
                audit_document(row.try_get(0)?, entry, [row.try_get(8)?, row.try_get(9)?, row.try_get(10)?])
            })
            .collect()
    }
}
