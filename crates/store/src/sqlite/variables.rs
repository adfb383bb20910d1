//! Template variables on SQLite; secret values sealed at rest.

use opendls_engine::{Scope, Timestamp, Variable};
use rusqlite::{Connection, Row, Transaction, params};

use super::{SqliteStore, scope_columns};
use crate::secrets::SecretKeys;
use crate::{StoreResult, VariableStore};

const COLUMNS: &str = "scope, scope_key, name, value, secret";

fn variable_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, String, bool)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

use crate::columns::opened_variable as opened;

/// The variables a device's templates may use: global, its group's and its own.
pub(super) fn device_variables(
    connection: &Connection,
    mac: &str,
    group: &str,
    other_groups: &str,
    secrets: &SecretKeys,
) -> StoreResult<Vec<Variable>> {
    // `other_groups` is the device's further groups as `,a,b,` (see `group_haystack`).
    let rows = connection
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM variables WHERE scope = 'global' \
             OR (scope = 'group' AND scope_key = ?1) OR (scope = 'device' AND scope_key = ?2) \
             OR (?3 != '' AND scope = 'group' AND instr(?3, ',' || scope_key || ',') > 0)"
        ))?
        .query_map(params![group, mac, other_groups], variable_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|row| opened(row, secrets)).collect()
}

/// What writing a variable does to one of the same scope and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    /// It is replaced.
    Replace,
    /// It is kept, and nothing is written.
    Keep,
}

/// Writes one variable in `tx`.
pub(super) fn upsert_variable(
    tx: &Transaction<'_>,
    variable: &Variable,
    now: Timestamp,
    secrets: &SecretKeys,
    existing: Existing,
) -> StoreResult<()> {
    let (scope, key) = scope_columns(&variable.scope);
    let value = if variable.secret { secrets.seal(&variable.value) } else { variable.value.clone() };
    let on_conflict = match existing {
        Existing::Replace => {
            "DO UPDATE SET value = excluded.value, secret = excluded.secret, updated_at = excluded.updated_at"
        }
        Existing::Keep => "DO NOTHING",
    };
    tx.prepare_cached(&format!(
        "INSERT INTO variables (scope, scope_key, name, value, secret, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (scope, scope_key, name) {on_conflict}"
    ))?
    .execute(params![scope, key, variable.name, value, variable.secret, now])?;
    Ok(())
}

impl VariableStore for SqliteStore {
    async fn set_variables(&self, variables: &[Variable], now: Timestamp) -> StoreResult<()> {
        let (variables, secrets) = (variables.to_vec(), self.secrets.clone());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            for variable in &variables {
                upsert_variable(&tx, variable, now, &secrets, Existing::Replace)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn unset_variable(&self, scope: &Scope, name: &str) -> StoreResult<bool> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.write(move |connection| {
            let (scope, key) = scope_columns(&scope);
            let done = connection
                .prepare_cached("DELETE FROM variables WHERE scope = ?1 AND scope_key = ?2 AND name = ?3")?
                .execute(params![scope, key, name])?;
            Ok(done > 0)
        })
        .await
    }

    async fn variables(&self, scope: Option<&Scope>) -> StoreResult<Vec<Variable>> {
        let (scope, secrets) = (scope.cloned(), self.secrets.clone());
        self.read(move |connection| {
            let order = "ORDER BY scope != 'global', scope, scope_key, name";
            let rows = match &scope {
                None => connection
                    .prepare_cached(&format!("SELECT {COLUMNS} FROM variables {order}"))?
                    .query_map([], variable_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                Some(scope) => {
                    let (scope, key) = scope_columns(scope);
                    connection
                        .prepare_cached(&format!(
                            "SELECT {COLUMNS} FROM variables WHERE scope = ?1 AND scope_key = ?2 {order}"
                        ))?
                        .query_map(params![scope, key], variable_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            rows.into_iter().map(|row| opened(row, &secrets)).collect()
        })
        .await
    }
}
