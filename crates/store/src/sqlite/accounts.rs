//! [`AccountStore`] on SQLite.

use opendls_engine::{Role, Timestamp};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use crate::StoreResult;
use crate::accounts::{
    Account, AccountCredentials, AccountStore, AccountUpdate, ApiToken, NewAccount, NewApiToken, NewSession,
    Session, TOKEN_USE_RESOLUTION_SECS,
};
use crate::columns::{ACCOUNT_COLUMNS, TOKEN_COLUMNS, TOKEN_FIELDS, parse_role};

/// The account in the row's columns from `first` on ([`ACCOUNT_COLUMNS`]).
fn account_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Account> {
    let role: String = row.get(first + 1)?;
    let role = parse_role(&role).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(first + 1, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Account {
        name: row.get(first)?,
        role,
        created_at: row.get(first + 2)?,
        password_set_at: row.get(first + 3)?,
        must_change_password: row.get(first + 4)?,
    })
}

fn account_of(row: &Row<'_>) -> rusqlite::Result<Account> {
    account_at(row, 0)
}

fn token_of(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: row.get(0)?,
        account: row.get(1)?,
        label: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        last_used_at: row.get(5)?,
    })
}

fn insert_account(tx: &Transaction<'_>, account: &NewAccount, now: Timestamp) -> StoreResult<bool> {
    let added = tx.execute(
        "INSERT INTO accounts (name, role, password_hash, must_change_password, created_at, password_set_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (name) DO NOTHING",
        params![
            account.name,
            account.role.as_str(),
            account.password_hash,
            account.must_change_password,
            now
        ],
    )?;
    Ok(added > 0)
}

/// The account as it is, and whether it is the only admin.
fn current(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<(Account, bool)>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE name = ?1");
    let Some(account) = tx.query_row(&sql, [name], account_of).optional()? else { return Ok(None) };
    let admins: i64 = tx.query_row("SELECT COUNT(*) FROM accounts WHERE role = 'admin'", [], |r| r.get(0))?;
    let last_admin = account.role == Role::Admin && admins <= 1;
    Ok(Some((account, last_admin)))
}

impl AccountStore for SqliteStore {
    async fn add_account(&self, account: NewAccount, now: Timestamp) -> StoreResult<bool> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let added = insert_account(&tx, &account, now)?;
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn add_first_account(&self, account: NewAccount, now: Timestamp) -> StoreResult<bool> {
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let existing: i64 = tx.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?;
            let added = existing == 0 && insert_account(&tx, &account, now)?;
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn account(&self, name: &str) -> StoreResult<Option<AccountCredentials>> {
        let name = name.to_owned();
        self.read(move |connection| {
            let sql = format!("SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts a WHERE name = ?1");
            let found = connection
                .prepare_cached(&sql)?
                .query_row([name], |row| {
                    Ok(AccountCredentials { account: account_of(row)?, password_hash: row.get(5)? })
                })
                .optional()?;
            Ok(found)
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|connection| {
            let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY name");
            Ok(connection
                .prepare_cached(&sql)?
                .query_map([], account_of)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change: bool,
        now: Timestamp,
    ) -> StoreResult<AccountUpdate> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let Some((before, _)) = current(&tx, &name)? else { return Ok(AccountUpdate::Missing) };
            tx.execute(
                "UPDATE accounts SET password_hash = ?2, must_change_password = ?3, password_set_at = ?4 WHERE name = ?1",
                params![name, hash, must_change, now],
            )?;
            tx.commit()?;
            Ok(AccountUpdate::Done(before))
        })
        .await
    }

    async fn set_role(&self, name: &str, role: Role) -> StoreResult<AccountUpdate> {
        let name = name.to_owned();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let Some((before, last_admin)) = current(&tx, &name)? else { return Ok(AccountUpdate::Missing) };
            if last_admin && role != Role::Admin {
                return Ok(AccountUpdate::LastAdmin);
            }
            tx.execute("UPDATE accounts SET role = ?2 WHERE name = ?1", params![name, role.as_str()])?;
            tx.commit()?;
            Ok(AccountUpdate::Done(before))
        })
        .await
    }

    async fn remove_account(&self, name: &str) -> StoreResult<AccountUpdate> {
        let name = name.to_owned();
        self.write(move |connection| {
            let tx = connection.transaction()?;
            let Some((before, last_admin)) = current(&tx, &name)? else { return Ok(AccountUpdate::Missing) };
            if last_admin {
                return Ok(AccountUpdate::LastAdmin);
            }
            tx.execute("DELETE FROM api_tokens WHERE account = ?1", [&name])?;
            tx.execute("DELETE FROM sessions WHERE account = ?1", [&name])?;
            tx.execute("DELETE FROM accounts WHERE name = ?1", [&name])?;
            tx.commit()?;
            Ok(AccountUpdate::Done(before))
        })
        .await
    }

    async fn add_token(&self, token: NewApiToken, now: Timestamp) -> StoreResult<bool> {
        self.write(move |connection| {
            let added = connection.execute(
                "INSERT INTO api_tokens (id, account, label, digest, created_at, expires_at) \
                 SELECT ?1, name, ?3, ?4, ?5, ?6 FROM accounts WHERE name = ?2",
                params![token.id, token.account, token.label, token.digest, now, token.expires_at],
            )?;
            Ok(added > 0)
        })
        .await
    }

    async fn use_token(&self, digest: &str, now: Timestamp) -> StoreResult<Option<(ApiToken, Account)>> {
        let digest = digest.to_owned();
        let found = self
            .read(move |connection| {
                let sql = format!(
                    "SELECT {TOKEN_COLUMNS}, {ACCOUNT_COLUMNS} FROM api_tokens t JOIN accounts a ON a.name = t.account \
                     WHERE t.digest = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2)"
                );
                let mut statement = connection.prepare_cached(&sql)?;
                Ok(statement
                    .query_row(params![digest, now], |row| Ok((token_of(row)?, account_at(row, TOKEN_FIELDS)?)))
                    .optional()?)
            })
            .await?;
        let Some((token, account)) = found else { return Ok(None) };
        if token.last_used_at.is_none_or(|used| used + TOKEN_USE_RESOLUTION_SECS <= now) {
            let id = token.id.clone();
            self.write(move |connection| {
                connection
                    .execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, now])?;
                Ok(())
            })
            .await?;
        }
        Ok(Some((token, account)))
    }

    async fn tokens(&self, account: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        let account = account.map(str::to_owned);
        self.read(move |connection| {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE ?1 IS NULL OR t.account = ?1 \
                 ORDER BY t.created_at DESC, t.id"
            );
            Ok(connection
                .prepare_cached(&sql)?
                .query_map([account], token_of)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn add_session(&self, session: NewSession, now: Timestamp) -> StoreResult<bool> {
        self.write(move |connection| {
            let added = connection.execute(
                "INSERT INTO sessions (digest, account, created_at, expires_at, last_seen_at, source) \
                 SELECT ?1, name, ?3, ?4, ?3, ?5 FROM accounts WHERE name = ?2",
                params![session.digest, session.account, now, session.expires_at, session.source],
            )?;
            Ok(added > 0)
        })
        .await
    }

    async fn use_session(
        &self,
        digest: &str,
        now: Timestamp,
        idle_secs: i64,
    ) -> StoreResult<Option<Session>> {
        let key = digest.to_owned();
        let found = self
            .read(move |connection| {
                let sql = format!(
                    "SELECT s.created_at, s.expires_at, s.last_seen_at, {ACCOUNT_COLUMNS} FROM sessions s \
                     JOIN accounts a ON a.name = s.account \
                     WHERE s.digest = ?1 AND s.expires_at > ?2 AND s.last_seen_at + ?3 > ?2"
                );
                let mut statement = connection.prepare_cached(&sql)?;
                Ok(statement
                    .query_row(params![key, now, idle_secs], |row| {
                        let session = Session {
                            account: account_at(row, 3)?,
                            created_at: row.get(0)?,
                            expires_at: row.get(1)?,
                        };
                        Ok((session, row.get::<_, Timestamp>(2)?))
                    })
                    .optional()?)
            })
            .await?;
        let Some((session, last_seen)) = found else { return Ok(None) };
        if last_seen + TOKEN_USE_RESOLUTION_SECS <= now {
            let key = digest.to_owned();
            self.write(move |connection| {
                connection
                    .execute("UPDATE sessions SET last_seen_at = ?2 WHERE digest = ?1", params![key, now])?;
                Ok(())
            })
            .await?;
        }
        Ok(Some(session))
    }

    async fn end_session(&self, digest: &str) -> StoreResult<bool> {
        let key = digest.to_owned();
        self.write(move |connection| {
            Ok(connection.execute("DELETE FROM sessions WHERE digest = ?1", [key])? > 0)
        })
        .await
    }

    async fn end_sessions_of(&self, account: &str, keep: Option<&str>) -> StoreResult<u64> {
        let (account, keep) = (account.to_owned(), keep.map(str::to_owned));
        self.write(move |connection| {
            let ended = connection.execute(
                "DELETE FROM sessions WHERE account = ?1 AND (?2 IS NULL OR digest != ?2)",
                params![account, keep],
            )?;
            Ok(ended as u64)
        })
        .await
    }

    async fn revoke_token(&self, id: &str, account: Option<&str>) -> StoreResult<Option<ApiToken>> {
        let (id, account) = (id.to_owned(), account.map(str::to_owned));
        self.write(move |connection| {
            // SQLite's RETURNING takes no table names.
            let returning = TOKEN_COLUMNS.replace("t.", "");
            let sql = format!(
                "DELETE FROM api_tokens WHERE id = ?1 AND (?2 IS NULL OR account = ?2) RETURNING {returning}"
            );
            Ok(connection.query_row(&sql, params![id, account], token_of).optional()?)
        })
        .await
    }
}
