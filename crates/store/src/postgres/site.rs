//! [`SiteStore`] on PostgreSQL: one transaction for a whole site file, sent in one round trip.

use opendls_engine::Timestamp;

use super::PostgresStore;
use super::batch::{Batch, owned};
use super::phone::upsert_desired;
use super::variables::{Existing, upsert_variable};
use crate::StoreResult;
use crate::columns::{index_column, scope_columns};
use crate::site::{SiteChange, SiteStore};

impl SiteStore for PostgresStore {
    async fn apply_site(&self, change: &SiteChange, now: Timestamp) -> StoreResult<()> {
        let mut batch = Batch::default();
        for (scope, key) in &change.unset_values {
            let (scope, scope_key) = scope_columns(scope);
            batch.push(
                "DELETE FROM desired_items WHERE scope = $1 AND scope_key = $2 AND name = $3 AND item_index = $4",
                owned![scope, scope_key.to_owned(), key.name.clone(), index_column(key.index)],
            );
        }
        for entry in &change.set_values {
            upsert_desired(&mut batch, entry, now, &self.secrets);
        }
        for (scope, name) in &change.unset_variables {
            let (scope, scope_key) = scope_columns(scope);
            batch.push(
                "DELETE FROM variables WHERE scope = $1 AND scope_key = $2 AND name = $3",
                owned![scope, scope_key.to_owned(), name.clone()],
            );
        }
        for variable in &change.set_variables {
            upsert_variable(&mut batch, variable, now, &self.secrets, Existing::Replace);
        }
        batch.commit(&self.client().await?).await
    }
}
