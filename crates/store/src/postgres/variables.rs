//! Template variables on PostgreSQL; secret values sealed at rest.

use deadpool_postgres::GenericClient;
use opendls_engine::{Scope, Timestamp, Variable};
use tokio_postgres::Row;

use super::batch::{Batch, owned};
use super::{PostgresStore, execute, query};
use crate::columns::{opened_variable, scope_columns};
use crate::secrets::SecretKeys;
use crate::{StoreResult, VariableStore};

const COLUMNS: &str = "scope, scope_key, name, value, secret";

fn opened(row: &Row, secrets: &SecretKeys) -> StoreResult<Variable> {
    let row = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
    opened_variable(row, secrets)
}

/// The variables a device's templates may use: global, its groups' (read from its row in the
/// same query) and its own.
pub(super) async fn device_variables(
    db: &impl GenericClient,
    mac: &str,
    secrets: &SecretKeys,
) -> StoreResult<Vec<Variable>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM variables WHERE scope = 'global' OR (scope = 'device' AND scope_key = $1) \
         OR (scope = 'group' AND EXISTS (SELECT 1 FROM devices d WHERE d.mac = $1 AND (d.group_name = scope_key \
             OR strpos(',' || d.other_groups || ',', ',' || scope_key || ',') > 0)))"
    );
    query(db, &sql, &[&mac]).await?.iter().map(|row| opened(row, secrets)).collect()
}

/// What writing a variable does to one of the same scope and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    /// It is replaced.
    Replace,
    /// It is kept, and nothing is written.
    Keep,
}

/// Writes one variable.
pub(super) fn upsert_variable(
    batch: &mut Batch,
    variable: &Variable,
    now: Timestamp,
    secrets: &SecretKeys,
    existing: Existing,
) {
    let (scope, key) = scope_columns(&variable.scope);
    let value = if variable.secret { secrets.seal(&variable.value) } else { variable.value.clone() };
    let on_conflict = match existing {
        Existing::Replace => {
            "DO UPDATE SET value = excluded.value, secret = excluded.secret, updated_at = excluded.updated_at"
        }
        Existing::Keep => "DO NOTHING",
    };
    let sql = format!(
        "INSERT INTO variables (scope, scope_key, name, value, secret, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope, scope_key, name) {on_conflict}"
    );
    batch.push(sql, owned![scope, key.to_owned(), variable.name.clone(), value, variable.secret, now]);
}

impl VariableStore for PostgresStore {
    async fn set_variables(&self, variables: &[Variable], now: Timestamp) -> StoreResult<()> {
        let mut batch = Batch::default();
        for variable in variables {
            upsert_variable(&mut batch, variable, now, &self.secrets, Existing::Replace);
        }
        batch.commit(&self.client().await?).await
    }

    async fn unset_variable(&self, scope: &Scope, name: &str) -> StoreResult<bool> {
        let (scope, key) = scope_columns(scope);
        let sql = "DELETE FROM variables WHERE scope = $1 AND scope_key = $2 AND name = $3";
        Ok(execute(&self.client().await?, sql, &[&scope, &key, &name]).await? > 0)
    }

    async fn variables(&self, scope: Option<&Scope>) -> StoreResult<Vec<Variable>> {
        let order = "ORDER BY scope != 'global', scope, scope_key, name";
        let client = self.client().await?;
        let rows = match scope {
            None => query(&client, &format!("SELECT {COLUMNS} FROM variables {order}"), &[]).await?,
            Some(scope) => {
                let (scope, key) = scope_columns(scope);
                let sql =
                    format!("SELECT {COLUMNS} FROM variables WHERE scope = $1 AND scope_key = $2 {order}");
                query(&client, &sql, &[&scope, &key]).await?
            }
        };
        rows.iter().map(|row| opened(row, &self.secrets)).collect()
    }
}
