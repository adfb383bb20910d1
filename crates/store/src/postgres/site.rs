//! [`SiteStore`] on PostgreSQL: one transaction for a whole site file.

use opendls_engine::Timestamp;

use super::phone::upsert_desired;
use super::variables::{Existing, upsert_variable};
use super::{PostgresStore, execute};
use crate::StoreResult;
use crate::columns::{index_column, scope_columns};
use crate::site::{SiteChange, SiteStore};

impl SiteStore for PostgresStore {
    async fn apply_site(&self, change: &SiteChange, now: Timestamp) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for (scope, key) in &change.unset_values {
            let (scope, scope_key) = scope_columns(scope);
            execute(
                &tx,
                "DELETE FROM desired_items WHERE scope = $1 AND scope_key = $2 AND name = $3 AND item_index = $4",
                &[&scope, &scope_key, &key.name, &index_column(key.index)],
            )
            .await?;
        }
        for entry in &change.set_values {
            upsert_desired(&tx, entry, now, &self.secrets).await?;
        }
        for (scope, name) in &change.unset_variables {
            let (scope, scope_key) = scope_columns(scope);
            let sql = "DELETE FROM variables WHERE scope = $1 AND scope_key = $2 AND name = $3";
            execute(&tx, sql, &[&scope, &scope_key, name]).await?;
        }
        for variable in &change.set_variables {
            upsert_variable(&tx, variable, now, &self.secrets, Existing::Replace).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
