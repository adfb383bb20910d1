//! [`SiteStore`] on SQLite: one transaction for a whole site file.

use opendls_engine::Timestamp;
use rusqlite::params;

use super::phone::upsert_desired;
use super::variables::{Existing, upsert_variable};
use super::{SqliteStore, index_column, scope_columns};
use crate::StoreResult;
use crate::site::{SiteChange, SiteStore};

impl SiteStore for SqliteStore {
    async fn apply_site(&self, change: &SiteChange, now: Timestamp) -> StoreResult<()> {
        let (change, secrets) = (change.clone(), self.secrets.clone());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            for (scope, key) in &change.unset_values {
                let (scope, scope_key) = scope_columns(scope);
                tx.prepare_cached(
                    "DELETE FROM desired_items WHERE scope = ?1 AND scope_key = ?2 AND name = ?3 AND item_index = ?4",
                )?
                .execute(params![scope, scope_key, key.name, index_column(key.index)])?;
            }
            for entry in &change.set_values {
                upsert_desired(&tx, entry, now, &secrets)?;
            }
            for (scope, name) in &change.unset_variables {
                let (scope, scope_key) = scope_columns(scope);
                tx.prepare_cached("DELETE FROM variables WHERE scope = ?1 AND scope_key = ?2 AND name = ?3")?
                    .execute(params![scope, scope_key, name])?;
            }
            for variable in &change.set_variables {
                upsert_variable(&tx, variable, now, &secrets, Existing::Replace)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
