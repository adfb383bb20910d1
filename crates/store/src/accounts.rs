//! Administrators' accounts and their personal API tokens. Passwords and tokens are kept only as
//! verifiers: an argon2 hash (made by the server) and a SHA-256 digest of the token (a token is
//! 256 random bits, so a fast digest cannot be searched backwards).

use std::future::Future;

use opendls_engine::{Role, Timestamp};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// An account as shown: everything but its password's verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its password was last set.
    pub password_set_at: Timestamp,
    /// The password was set by someone else (a one-time password): the owner must choose their
    /// own at the next login.
    pub must_change_password: bool,
}

/// An account with its password's verifier, for checking a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCredentials {
    /// The account.
    pub account: Account,
    /// The password's argon2 hash (PHC string).
    pub password_hash: String,
}

/// An account to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The password's argon2 hash (PHC string).
    pub password_hash: String,
    /// Whether the owner must choose their own password at the next login.
    pub must_change_password: bool,
}

/// What changing or removing an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum AccountUpdate {
    /// Done; the account as it was before.
    Done(Account),
    /// There is no account of that name.
    Missing,
    /// Refused: it is the last admin account (someone must be left who can manage accounts).
    LastAdmin,
}

/// A personal API token as shown (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its public id (the token's second part), to list and revoke it.
    pub id: String,
    /// The account it acts for (with the account's role at the time of each request).
    pub account: String,
    /// What it is for, as its owner described it.
    pub label: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<Timestamp>,
}

/// A token to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// Its public id.
    pub id: String,
    /// The account it acts for.
    pub account: String,
    /// What it is for.
    pub label: String,
    /// The SHA-256 digest of the whole token, in lower-case hex.
    pub digest: String,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// A browser session to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The SHA-256 digest of the cookie's secret, in lower-case hex.
    pub digest: String,
    /// The account signed in.
    pub account: String,
    /// When it ends, however busy.
    pub expires_at: Timestamp,
    /// The address it was opened from.
    pub source: String,
}

/// A session in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account signed in (its role as it is now).
    pub account: Account,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it ends, however busy.
    pub expires_at: Timestamp,
}

/// Storage of accounts and API tokens.
pub trait AccountStore: Send + Sync + 'static {
    /// Makes an account; false when the name is taken.
    fn add_account(
        &self,
        account: NewAccount,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Makes `account` only when there is no account at all (the first admin of an
    /// installation, made once even when several nodes start together); true when it was made.
    fn add_first_account(
        &self,
        account: NewAccount,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// An account with its password's verifier.
    fn account(&self, name: &str) -> impl Future<Output = StoreResult<Option<AccountCredentials>>> + Send;
    /// Every account, by name.
    fn accounts(&self) -> impl Future<Output = StoreResult<Vec<Account>>> + Send;
    /// Sets an account's password (an argon2 hash).
    fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        must_change: bool,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<AccountUpdate>> + Send;
    /// Changes an account's role; refused for the last admin account losing its role.
    fn set_role(&self, name: &str, role: Role) -> impl Future<Output = StoreResult<AccountUpdate>> + Send;
    /// Removes an account and its tokens; refused for the last admin account.
    fn remove_account(&self, name: &str) -> impl Future<Output = StoreResult<AccountUpdate>> + Send;
    /// Keeps a new token; false when its account does not exist.
    fn add_token(&self, token: NewApiToken, now: Timestamp)
    -> impl Future<Output = StoreResult<bool>> + Send;
    /// The token with this digest, unexpired at `now`, with its account; notes its use (at most
    /// once a minute, so a busy script does not write on every request).
    fn use_token(
        &self,
        digest: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<(ApiToken, Account)>>> + Send;
    /// The tokens of one account, or of every account, newest first.
    fn tokens(&self, account: Option<&str>) -> impl Future<Output = StoreResult<Vec<ApiToken>>> + Send;
    /// Opens a browser session; false when its account does not exist.
    fn add_session(
        &self,
        session: NewSession,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The session with this digest, unexpired and used within `idle_secs` of `now`, with its
    /// account; notes its use (at most once a minute).
    fn use_session(
        &self,
        digest: &str,
        now: Timestamp,
        idle_secs: i64,
    ) -> impl Future<Output = StoreResult<Option<Session>>> + Send;
    /// Ends one session (logout); false when there was none.
    fn end_session(&self, digest: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Ends every session of an account but `keep` (after its password changed); how many.
    fn end_sessions_of(
        &self,
        account: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Revokes a token (of `account` only, when given); the token as it was, or `None`.
    fn revoke_token(
        &self,
        id: &str,
        account: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<ApiToken>>> + Send;
}

/// A token's or session's last use is noted when the one noted is older than this (seconds).
pub const TOKEN_USE_RESOLUTION_SECS: Timestamp = 60;
