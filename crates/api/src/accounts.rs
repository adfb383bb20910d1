//! Accounts, personal API tokens, who is asking, and the audit log.

use opendls_engine::{Role, Timestamp};
use serde::{Deserialize, Serialize};

/// An account (`GET /api/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its password was last set.
    pub password_set_at: Timestamp,
    /// Whether its owner must choose a new password at the next login.
    pub must_change_password: bool,
}

/// An account to make (`POST /api/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// The login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its password; without one, the server makes a one-time password, answers it once, and
    /// the owner must change it at the first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// What `POST /api/users` and an admin's password reset answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The account.
    pub user: UserView,
    /// The one-time password the server made, shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
}

/// A change of an account's role (`PUT /api/users/{name}/role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
}

/// A password change (`PUT /api/users/{name}/password`). Owners change their own with their
/// current password; an admin sets anyone's (a one-time password when `password` is absent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PasswordChange {
    /// The new password; absent: the server makes a one-time password (admins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The current password (needed when changing one's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// A token to make (`POST /api/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenRequest {
    /// What it is for (`backup script`).
    pub label: String,
    /// The account it acts for: one's own when absent; an admin may name another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Days until it stops working; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

/// A personal API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    /// Its public id (`opendls token revoke ID`).
    pub id: String,
    /// The account it acts for.
    pub user: String,
    /// What it is for.
    pub label: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<Timestamp>,
}

/// A token just made: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The whole token, for `Authorization: Bearer` (`odls_<id>_<secret>`).
    pub token: String,
    /// The token as listed.
    #[serde(flatten)]
    pub view: TokenView,
}

/// How a request signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SignedIn {
    /// The admin token of the data directory (break-glass: no account, every right).
    BreakGlass,
    /// A personal API token.
    Token {
        /// Its id.
        id: String,
    },
    /// A browser session.
    Session,
}

/// Who is asking (`GET /api/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The account's name (`break-glass` for the admin token).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// How it signed in.
    pub via: SignedIn,
}

/// One change in the audit log (`GET /api/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    /// Its number, in the order changes were recorded.
    pub id: i64,
    /// When the change was answered.
    pub at: Timestamp,
    /// Who: an account, or `break-glass`.
    pub actor: String,
    /// How they signed in (`token 1a2b3c4d5e6f`, `session`, `break-glass token`).
    pub via: String,
    /// The address the request came from.
    pub source: String,
    /// The method and route (`PUT /api/config`).
    pub action: String,
    /// The path and query asked for.
    pub target: String,
    /// The answer's HTTP status (refused changes are recorded too).
    pub status: u16,
    /// The request's document, secrets masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// What the change replaced, where it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// What the change made, where it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// A login (`POST /api/login`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The account's name.
    pub name: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A browser session (`POST /api/login`, `GET /api/session`); the session's secret is only in
/// its `HttpOnly` cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The account signed in.
    pub user: UserView,
    /// What every change made through the session carries: the `X-CSRF-Token` header, or a
    /// form's `csrf` field.
    pub csrf_token: String,
    /// When the session ends, however busy.
    pub expires_at: Timestamp,
    /// Seconds unused after which it ends.
    pub idle_timeout_secs: i64,
}
