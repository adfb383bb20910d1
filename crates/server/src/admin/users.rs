//! Accounts (`/api/users`, admin only, except one's own password) and who is asking
//! (`/api/whoami`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use opendls_store::{Account, AccountStore, AccountUpdate, NewAccount};

use super::access::{Principal, audited};
use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure};
use crate::accounts::{self, FIRST_ADMIN, check_password, check_user_name, hash_password, verify_password};
use crate::api::{NewUser, PasswordChange, RoleChange, UserCreated, UserView, WhoAmI};
use crate::phone::unix_now;

/// An account as the API shows it.
pub(super) fn user_view(account: Account) -> UserView {
    UserView {
        name: account.name,
        role: account.role,
        created_at: account.created_at,
        password_set_at: account.password_set_at,
        must_change_password: account.must_change_password,
    }
}

fn document(view: &UserView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or_default()
}

pub(super) async fn whoami(Extension(principal): Extension<Principal>) -> Json<WhoAmI> {
    Json(WhoAmI { name: principal.name, role: principal.role, via: principal.via })
}

pub(super) async fn list<S: AccountStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let users: Vec<UserView> = state.store.accounts().await?.into_iter().map(user_view).collect();
    Ok(Json(users).into_response())
}

pub(super) async fn add<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<NewUser>,
) -> Answer {
    check_user_name(&request.name).map_err(|why| failure(StatusCode::BAD_REQUEST, why))?;
    let (password, one_time) = chosen_or_one_time(&request.name, request.password)?;
    let account = NewAccount {
        name: request.name.clone(),
        role: request.role,
        password_hash: hash_password(&password),
        must_change_password: one_time,
    };
    if !state.store.add_account(account, unix_now()).await? {
        return Err(failure(StatusCode::CONFLICT, format!("there is already a user {:?}", request.name)));
    }
    let user = current(&state, &request.name).await?;
    let after = document(&user);
    let created = UserCreated { user, one_time_password: one_time.then_some(password) };
    Ok(audited((StatusCode::CREATED, Json(created)).into_response(), None, Some(after)))
}

/// The password given (checked), or a one-time password made here (`true`).
fn chosen_or_one_time(name: &str, password: Option<String>) -> Result<(String, bool), Rejection> {
    match password {
        Some(password) => {
            check_password(name, &password).map_err(|why| failure(StatusCode::UNPROCESSABLE_ENTITY, why))?;
            Ok((password, false))
        }
        None => Ok((accounts::one_time_password(), true)),
    }
}

async fn current<S: AccountStore>(state: &AdminState<S>, name: &str) -> Result<UserView, Rejection> {
    match state.store.account(name).await? {
        Some(found) => Ok(user_view(found.account)),
        None => Err(no_such_user(name)),
    }
}

fn no_such_user(name: &str) -> Rejection {
    failure(StatusCode::NOT_FOUND, format!("no user {name:?}"))
}

/// What an account change answered, as the API says it.
fn updated(update: AccountUpdate, name: &str) -> Result<Account, Rejection> {
    match update {
        AccountUpdate::Done(before) => Ok(before),
        AccountUpdate::Missing => Err(no_such_user(name)),
        AccountUpdate::LastAdmin => Err(failure(
            StatusCode::CONFLICT,
            format!("{name:?} is the last admin: make another admin first"),
        )),
    }
}

pub(super) async fn remove<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(name): Path<String>,
) -> Answer {
    let before = user_view(updated(state.store.remove_account(&name).await?, &name)?);
    let before_document = document(&before);
    Ok(audited(Json(before).into_response(), Some(before_document), None))
}

pub(super) async fn set_role<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(name): Path<String>,
    ApiJson(change): ApiJson<RoleChange>,
) -> Answer {
    let before = user_view(updated(state.store.set_role(&name, change.role).await?, &name)?);
    let after = current(&state, &name).await?;
    let (before, after_document) = (document(&before), document(&after));
    Ok(audited(Json(after).into_response(), Some(before), Some(after_document)))
}

/// One's own password (with the current one), or anyone's for an admin (a one-time password
/// when none is given, which its owner must change).
pub(super) async fn set_password<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Answer {
    let set = change_password(&state, &principal, &name, change).await?;
    Ok(Json(set).into_response())
}

/// Sets a password, for the API and the console alike: one's own needs the current password;
/// another's needs an admin, and its owner must change it. Ends every other session of the
/// account.
pub(super) async fn change_password<S: AccountStore>(
    state: &AdminState<S>,
    principal: &Principal,
    name: &str,
    change: PasswordChange,
) -> Result<UserCreated, Rejection> {
    let own = !principal.is_break_glass() && principal.name == name;
    if own {
        let found = state.store.account(name).await?.ok_or_else(|| no_such_user(name))?;
        let current = change.current.unwrap_or_default();
        let hash = found.password_hash;
        // argon2 is tens of milliseconds of CPU: off the runtime's threads.
        let right =
            tokio::task::spawn_blocking(move || verify_password(&current, &hash)).await.unwrap_or(false);
        if !right {
            return Err(failure(StatusCode::FORBIDDEN, "the current password is wrong"));
        }
        if change.password.is_none() {
            return Err(failure(StatusCode::UNPROCESSABLE_ENTITY, "give the new password"));
        }
    } else if principal.role != opendls_engine::Role::Admin {
        return Err(failure(StatusCode::FORBIDDEN, "only an admin may set another user's password"));
    }
    let (password, one_time) = chosen_or_one_time(name, change.password)?;
    // An admin setting someone else's password gives them a password to change.
    let must_change = one_time || !own;
    let update = state.store.set_password(name, &hash_password(&password), must_change, unix_now()).await?;
    updated(update, name)?;
    // Whoever knew the old password is signed out everywhere but here.
    let keep = if own { principal.session.as_deref() } else { None };
    let ended = state.store.end_sessions_of(name, keep).await?;
    if ended > 0 {
        tracing::info!(user = name, sessions = ended, "password changed: other sessions ended");
    }
    if own && name == FIRST_ADMIN {
        forget_initial_password(&state.settings.data_dir);
    }
    let user = current(state, name).await?;
    Ok(UserCreated { user, one_time_password: one_time.then_some(password) })
}

/// The first admin chose a password: the one-time password's file is of no use any more.
fn forget_initial_password(data_dir: &std::path::Path) {
    let path = data_dir.join(accounts::INITIAL_PASSWORD_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "the first admin chose a password: removed the one-time password")
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "could not remove the one-time password file")
        }
    }
}
