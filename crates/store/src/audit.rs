//! The audit log: one entry per change made through the admin API or the console (who, when,
//! from where, what, and the values before and after where the change knows them). The server
//! masks secrets before an entry reaches the store.

use std::future::Future;

use opendls_engine::Timestamp;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// When the change was answered.
    pub at: Timestamp,
    /// Who: an account's name, or `break-glass` for the admin token of the data directory.
    pub actor: String,
    /// How they signed in: `token <id>`, `session`, `break-glass token`.
    pub via: String,
    /// The address the request came from.
    pub source: String,
    /// What: the request's method and route (`PUT /api/config`).
    pub action: String,
    /// On what: the request's path and query (`/api/devices/001122334455/group`).
    pub target: String,
    /// The HTTP status of the answer (a refused change is recorded too).
    pub status: u16,
    /// The request's document, secrets masked; `None` when it had none or is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// What the change replaced, when the change knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// What the change made, when the change knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number: entries are numbered in the order they were recorded.
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only this actor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Only those whose action or target contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Only those at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Only those before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Only those older than this entry (the next page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_id: Option<i64>,
    /// At most this many (the store caps it at [`MAX_AUDIT_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The most entries one listing returns.
pub const MAX_AUDIT_PAGE: u32 = 10_000;

impl AuditFilter {
    /// The page size asked for, capped.
    pub fn page(&self) -> u32 {
        self.limit.unwrap_or(100).clamp(1, MAX_AUDIT_PAGE)
    }

    /// The `text` filter as an SQL `LIKE` pattern (`%`, `_` and `\` escaped with `\`).
    pub fn like_pattern(&self) -> Option<String> {
        self.text.as_ref().map(|text| {
            let escaped: String = text
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("%{escaped}%")
        })
    }
}

/// Storage of the audit log.
pub trait AuditStore: Send + Sync + 'static {
    /// Records an entry; its number.
    fn record_audit(&self, entry: NewAuditEntry) -> impl Future<Output = StoreResult<i64>> + Send;
    /// The entries `filter` selects, newest first.
    fn audit(&self, filter: AuditFilter) -> impl Future<Output = StoreResult<Vec<AuditEntry>>> + Send;
}
