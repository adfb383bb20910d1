//! [`AuditStore`] on SQLite.

use rusqlite::{Row, params};

use super::SqliteStore;
use crate::StoreResult;
use crate::audit::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry};
use crate::columns::{AUDIT_COLUMNS, AUDIT_WHERE, audit_document, audit_text};

fn entry_of(row: &Row<'_>) -> rusqlite::Result<(i64, NewAuditEntry, [Option<String>; 3])> {
    let entry = NewAuditEntry {
        at: row.get(1)?,
        actor: row.get(2)?,
        via: row.get(3)?,
        source: row.get(4)?,
        action: row.get(5)?,
        target: row.get(6)?,
        status: row.get(7)?,
        request: None,
        before: None,
        after: None,
    };
    Ok((row.get(0)?, entry, [row.get(8)?, row.get(9)?, row.get(10)?]))
}

impl AuditStore for SqliteStore {
    async fn record_audit(&self, entry: NewAuditEntry) -> StoreResult<i64> {
        let [request, before, after] = audit_text(&entry)?;
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO audit_log (at, actor, via, source, action, target, status, request, before, after) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    entry.at,
                    entry.actor,
                    entry.via,
                    entry.source,
                    entry.action,
                    entry.target,
                    entry.status,
                    request,
                    before,
                    after
                ])?;
            Ok(connection.last_insert_rowid())
        })
        .await
    }

    async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |connection| {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {AUDIT_WHERE} ORDER BY id DESC LIMIT $6"
            );
            let rows = connection
                .prepare_cached(&sql.replace('$', "?"))?
                .query_map(
                    params![
                        filter.actor,
                        filter.like_pattern(),
                        filter.since,
                        filter.until,
                        filter.before_id,
                        i64::from(filter.page())
                    ],
                    entry_of,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(|(id, entry, texts)| audit_document(id, entry, texts)).collect()
        })
        .await
    }
}
