//! [`AccountStore`] on PostgreSQL. Changes that must leave an admin lock the admin accounts'
//! rows first, so two nodes demoting the last two admins at once cannot both succeed.

use deadpool_postgres::GenericClient;
use opendls_engine::{Role, Timestamp};
use tokio_postgres::Row;

use super::{PostgresStore, execute, query, query_opt};
use crate::StoreResult;
use crate::accounts::{
    Account, AccountCredentials, AccountStore, AccountUpdate, ApiToken, NewAccount, NewApiToken, NewSession,
    Session, TOKEN_USE_RESOLUTION_SECS,
};
use crate::columns::{ACCOUNT_COLUMNS, TOKEN_COLUMNS, TOKEN_FIELDS, parse_role};

/// The account in the row's columns from `first` on ([`ACCOUNT_COLUMNS`]).
fn account_at(row: &Row, first: usize) -> StoreResult<Account> {
    Ok(Account {
        name: row.try_get(first)?,
        role: parse_role(row.try_get(first + 1)?)?,
        created_at: row.try_get(first + 2)?,
        password_set_at: row.try_get(first + 3)?,
        must_change_password: row.try_get(first + 4)?,
    })
}

fn token_of(row: &Row) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: row.try_get(0)?,
        account: row.try_get(1)?,
        label: row.try_get(2)?,
        created_at: row.try_get(3)?,
        expires_at: row.try_get(4)?,
        last_used_at: row.try_get(5)?,
    })
}

const INSERT_ACCOUNT: &str = "INSERT INTO accounts \
     (name, role, password_hash, must_change_password, created_at, password_set_at) \
     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING";

async fn insert_account(db: &impl GenericClient, account: &NewAccount, now: Timestamp) -> StoreResult<bool> {
    let params: super::Params =
        &[&account.name, &account.role.as_str(), &account.password_hash, &account.must_change_password, &now];
    Ok(execute(db, INSERT_ACCOUNT, params).await? > 0)
}

/// The account as it is, and whether it is the only admin; the admins' rows stay locked until
/// the transaction ends.
async fn current(tx: &impl GenericClient, name: &str) -> StoreResult<Option<(Account, bool)>> {
    let admins = query(tx, "SELECT name FROM accounts WHERE role = 'admin' FOR UPDATE", &[]).await?.len();
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE name = $1 FOR UPDATE");
    let Some(row) = query_opt(tx, &sql, &[&name]).await? else { return Ok(None) };
    let account = account_at(&row, 0)?;
    let last_admin = account.role == Role::Admin && admins <= 1;
    Ok(Some((account, last_admin)))
}

impl AccountStore for PostgresStore {
    async fn add_account(&self, account: NewAccount, now: Timestamp) -> StoreResult<bool> {
        insert_account(&self.client().await?, &account, now).await
    }

    async fn add_first_account(&self, account: NewAccount, now: Timestamp) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nodes starting together take turns; the first makes the account, the others see it.
        tx.batch_execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE").await?;
        let existing = query_opt(&tx, "SELECT 1 FROM accounts LIMIT 1", &[]).await?.is_some();
        let added = !existing && insert_account(&tx, &account, now).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn account(&self, name: &str) -> StoreResult<Option<AccountCredentials>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts a WHERE name = $1");
        let Some(row) = query_opt(&self.client().await?, &sql, &[&name]).await? else { return Ok(None) };
        Ok(Some(AccountCredentials { account: account_at(&row, 0)?, password_hash: row.try_get(5)? }))
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY name");
        query(&self.client().await?, &sql, &[]).await?.iter().map(|row| account_at(row, 0)).collect()
    }

    async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change: bool,
        now: Timestamp,
    ) -> StoreResult<AccountUpdate> {
        // The self-join reads the row as it was before the update.
        let sql = "UPDATE accounts a SET password_hash = $2, must_change_password = $3, password_set_at = $4 \
                   FROM accounts old WHERE a.name = $1 AND old.name = a.name \
                   RETURNING old.name, old.role, old.created_at, old.password_set_at, old.must_change_password";
        let row = query_opt(&self.client().await?, sql, &[&name, &password_hash, &must_change, &now]).await?;
        Ok(match row {
            Some(row) => AccountUpdate::Done(account_at(&row, 0)?),
            None => AccountUpdate::Missing,
        })
    }

    async fn set_role(&self, name: &str, role: Role) -> StoreResult<AccountUpdate> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some((before, last_admin)) = current(&tx, name).await? else { return Ok(AccountUpdate::Missing) };
        if last_admin && role != Role::Admin {
            return Ok(AccountUpdate::LastAdmin);
        }
        execute(&tx, "UPDATE accounts SET role = $2 WHERE name = $1", &[&name, &role.as_str()]).await?;
        tx.commit().await?;
        Ok(AccountUpdate::Done(before))
    }

    async fn remove_account(&self, name: &str) -> StoreResult<AccountUpdate> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some((before, last_admin)) = current(&tx, name).await? else { return Ok(AccountUpdate::Missing) };
        if last_admin {
            return Ok(AccountUpdate::LastAdmin);
        }
        execute(&tx, "DELETE FROM api_tokens WHERE account = $1", &[&name]).await?;
        execute(&tx, "DELETE FROM sessions WHERE account = $1", &[&name]).await?;
        execute(&tx, "DELETE FROM accounts WHERE name = $1", &[&name]).await?;
        tx.commit().await?;
        Ok(AccountUpdate::Done(before))
    }

    async fn add_token(&self, token: NewApiToken, now: Timestamp) -> StoreResult<bool> {
        let sql = "INSERT INTO api_tokens (id, account, label, digest, created_at, expires_at) \
                   SELECT $1, name, $3, $4, $5, $6 FROM accounts WHERE name = $2";
        let params: super::Params =
            &[&token.id, &token.account, &token.label, &token.digest, &now, &token.expires_at];
        Ok(execute(&self.client().await?, sql, params).await? > 0)
    }

    async fn use_token(&self, digest: &str, now: Timestamp) -> StoreResult<Option<(ApiToken, Account)>> {
        let db = self.client().await?;
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, {ACCOUNT_COLUMNS} FROM api_tokens t JOIN accounts a ON a.name = t.account \
             WHERE t.digest = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let Some(row) = query_opt(&db, &sql, &[&digest, &now]).await? else { return Ok(None) };
        let (token, account) = (token_of(&row)?, account_at(&row, TOKEN_FIELDS)?);
        if token.last_used_at.is_none_or(|used| used + TOKEN_USE_RESOLUTION_SECS <= now) {
            execute(&db, "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", &[&token.id, &now]).await?;
        }
        Ok(Some((token, account)))
    }

    async fn tokens(&self, account: Option<&str>) -> StoreResult<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t WHERE $1::TEXT IS NULL OR t.account = $1 \
             ORDER BY t.created_at DESC, t.id"
        );
        query(&self.client().await?, &sql, &[&account]).await?.iter().map(token_of).collect()
    }

    async fn add_session(&self, session: NewSession, now: Timestamp) -> StoreResult<bool> {
        let sql = "INSERT INTO sessions (digest, account, created_at, expires_at, last_seen_at, source) \
                   SELECT $1, name, $3, $4, $3, $5 FROM accounts WHERE name = $2";
        let params: super::Params =
            &[&session.digest, &session.account, &now, &session.expires_at, &session.source];
        Ok(execute(&self.client().await?, sql, params).await? > 0)
    }

    async fn use_session(
        &self,
        digest: &str,
        now: Timestamp,
        idle_secs: i64,
    ) -> StoreResult<Option<Session>> {
        let db = self.client().await?;
        let sql = format!(
            "SELECT s.created_at, s.expires_at, s.last_seen_at, {ACCOUNT_COLUMNS} FROM sessions s \
             JOIN accounts a ON a.name = s.account \
             WHERE s.digest = $1 AND s.expires_at > $2 AND s.last_seen_at + $3 > $2"
        );
        let Some(row) = query_opt(&db, &sql, &[&digest, &now, &idle_secs]).await? else { return Ok(None) };
        let session = Session {
            account: account_at(&row, 3)?,
            created_at: row.try_get(0)?,
            expires_at: row.try_get(1)?,
        };
        let last_seen: Timestamp = row.try_get(2)?;
        if last_seen + TOKEN_USE_RESOLUTION_SECS <= now {
            execute(&db, "UPDATE sessions SET last_seen_at = $2 WHERE digest = $1", &[&digest, &now]).await?;
        }
        Ok(Some(session))
    }

    async fn end_session(&self, digest: &str) -> StoreResult<bool> {
        Ok(execute(&self.client().await?, "DELETE FROM sessions WHERE digest = $1", &[&digest]).await? > 0)
    }

    async fn end_sessions_of(&self, account: &str, keep: Option<&str>) -> StoreResult<u64> {
        let sql = "DELETE FROM sessions WHERE account = $1 AND ($2::TEXT IS NULL OR digest != $2)";
        execute(&self.client().await?, sql, &[&account, &keep]).await
    }

    async fn revoke_token(&self, id: &str, account: Option<&str>) -> StoreResult<Option<ApiToken>> {
        let sql = format!(
            "DELETE FROM api_tokens t WHERE t.id = $1 AND ($2::TEXT IS NULL OR t.account = $2) RETURNING {TOKEN_COLUMNS}"
        );
        query_opt(&self.client().await?, &sql, &[&id, &account]).await?.as_ref().map(token_of).transpose()
    }
}
