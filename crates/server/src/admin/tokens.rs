//! Personal API tokens (`/api/tokens`): everyone makes, lists and revokes their own; an admin
//! also those of others. A token is shown once, when made.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use opendls_engine::Role;
use opendls_store::{AccountStore, ApiToken, NewApiToken};
use serde::Deserialize;

use super::access::{Principal, audited};
use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure};
use crate::accounts::issue_token;
use crate::api::{CreatedToken, TokenRequest, TokenView};
use crate::phone::unix_now;

/// The longest a token may be made for (ten years).
const MAX_TOKEN_DAYS: u32 = 3650;
/// The longest label.
const MAX_LABEL_CHARS: usize = 100;

/// A token as the API shows it.
fn token_view(token: ApiToken) -> TokenView {
    TokenView {
        id: token.id,
        user: token.account,
        label: token.label,
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// Every account's tokens (admins).
    #[serde(default)]
    all: bool,
}

/// Whose tokens a request may see or change: its own, or (admins) anyone's (`None`).
fn owner_scope(principal: &Principal, everyone: bool) -> Result<Option<String>, Rejection> {
    if principal.is_break_glass() || (everyone && principal.role == Role::Admin) {
        Ok(None)
    } else if everyone {
        Err(failure(StatusCode::FORBIDDEN, "only an admin may see every user's tokens"))
    } else {
        Ok(Some(principal.name.clone()))
    }
}

pub(super) async fn list<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let owner = owner_scope(&principal, query.all)?;
    let tokens: Vec<TokenView> =
        state.store.tokens(owner.as_deref()).await?.into_iter().map(token_view).collect();
    Ok(Json(tokens).into_response())
}

pub(super) async fn create<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Answer {
    let label = request.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("give the token a label of 1-{MAX_LABEL_CHARS} characters (what it is for)"),
        ));
    }
    let user = match (request.user, principal.is_break_glass()) {
        (Some(user), _) if user == principal.name => user,
        (Some(user), _) if principal.role == Role::Admin => user,
        (Some(_), _) => {
            return Err(failure(StatusCode::FORBIDDEN, "only an admin may make tokens for others"));
        }
        (None, false) => principal.name.clone(),
        (None, true) => {
            return Err(failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the admin token belongs to no user: name the user the token is for",
            ));
        }
    };
    let now = unix_now();
    let expires_at = match request.expires_in_days {
        Some(days) if days == 0 || days > MAX_TOKEN_DAYS => {
            return Err(failure(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("expires_in_days must be 1-{MAX_TOKEN_DAYS}"),
            ));
        }
        Some(days) => Some(now + i64::from(days) * 86_400),
        None => None,
    };
    let issued = issue_token();
    let token = NewApiToken {
        id: issued.id.clone(),
        account: user.clone(),
        label: label.clone(),
        digest: issued.digest.clone(),
        expires_at,
    };
    if !state.store.add_token(token, now).await? {
        return Err(failure(StatusCode::NOT_FOUND, format!("no user {user:?}")));
    }
    let view = TokenView { id: issued.id, user, label, created_at: now, expires_at, last_used_at: None };
    let after = serde_json::to_value(&view).ok();
    let created = CreatedToken { token: issued.token, view };
    Ok(audited((StatusCode::CREATED, Json(created)).into_response(), None, after))
}

pub(super) async fn revoke<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Answer {
    let owner = owner_scope(&principal, principal.role == Role::Admin)?;
    match state.store.revoke_token(&id, owner.as_deref()).await? {
        Some(token) => {
            let view = token_view(token);
            let before = serde_json::to_value(&view).ok();
            Ok(audited(Json(view).into_response(), before, None))
        }
        None => Err(failure(StatusCode::NOT_FOUND, format!("no token {id:?} of yours"))),
    }
}
