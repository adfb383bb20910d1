//! Logging in and out, and choosing a password (first, when the account has a one-time one).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use opendls_store::{AccountStore, AuditStore, Store};
use serde::Deserialize;

use super::super::access::RemoteAddr;
use super::super::sessions::{LoginRefused, cookie, open_session, throttled_message};
use super::super::{AdminState, sessions};
use super::{Viewer, error_page, layout, source};
use crate::api::{Login, PasswordChange};

#[derive(Deserialize, Default)]
pub(super) struct Next {
    next: Option<String>,
}

/// Where to go after login: a console page, never another site.
fn next_page(next: Option<&str>) -> &str {
    match next {
        Some(next) if next.starts_with("/console") && !next.contains("//") && !next.contains('\\') => next,
        _ => "/console/",
    }
}

fn login_form(next: &str, name: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form.login method="post" action="/console/login" {
            input type="hidden" name="next" value=(next);
            label { "User name" input name="name" autocomplete="username" required value=(name); }
            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Log in" }
        }
        p.muted { "The first administrator's one-time password is in the file initial-admin-password in the service's data directory." }
    }
}

pub(super) async fn form(Query(query): Query<Next>) -> Response {
    layout("Log in", None, "", login_form(next_page(query.next.as_deref()), "", None)).into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// Whether a form was posted from this site (a browser names the page's origin): a login
/// posted from elsewhere would sign the victim in as the attacker.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    origin.split_once("://").is_some_and(|(_, authority)| authority == host)
}

pub(super) async fn submit<S: AccountStore + AuditStore>(
    State(state): State<Arc<AdminState<S>>>,
    remote: Option<Extension<RemoteAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = next_page(form.next.as_deref()).to_owned();
    if !same_origin(&headers) {
        return error_page(StatusCode::FORBIDDEN, "This login form was posted from another site.");
    }
    let name = form.name.clone();
    let (status, problem) = match open_session(
        &state,
        Login { name: form.name, password: form.password },
        source(remote),
    )
    .await
    {
        Ok(opened) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, opened.cookie);
            return response;
        }
        Err(LoginRefused::Wrong) => (StatusCode::UNAUTHORIZED, sessions::WRONG_LOGIN.to_owned()),
        Err(LoginRefused::Throttled(wait)) => (StatusCode::TOO_MANY_REQUESTS, throttled_message(wait)),
        Err(LoginRefused::Failed(rejection)) => return rejection.into_response(),
    };
    (status, layout("Log in", None, "", login_form(&next, &name, Some(&problem)))).into_response()
}

fn password_page(viewer: &Viewer, problem: Option<&str>, done: bool) -> Response {
    let body = html! {
        @if viewer.principal.must_change_password {
            p { "Your password was set by someone else: choose your own before you go on." }
        }
        @if done { p role="status" { "Your password is changed; your other sessions are ended." } }
        @if let Some(problem) = problem { p.error role="alert" { (problem) } }
        form.login method="post" action="/console/password" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
            label { "New password (at least 12 characters)" input type="password" name="password" autocomplete="new-password" minlength="12" required; }
            button type="submit" { "Change password" }
        }
    };
    layout("Your password", Some(viewer), "", body).into_response()
}

pub(super) async fn password_form(Extension(viewer): Extension<Viewer>) -> Response {
    password_page(&viewer, None, false)
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    current: String,
    password: String,
}

pub(super) async fn change_password<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(mut viewer): Extension<Viewer>,
    remote: Option<Extension<RemoteAddr>>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let name = viewer.principal.name.clone();
    let change = PasswordChange { password: Some(form.password), current: Some(form.current) };
    let outcome = super::super::users::change_password(&state, &viewer.principal, &name, change).await;
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(rejection) => rejection.0,
    };
    let target = format!("/api/users/{name}/password");
    super::super::access::record_change(
        &state,
        &viewer.principal,
        source(remote),
        "POST /console/password",
        &target,
        status,
    )
    .await;
    match outcome {
        Ok(_) if viewer.principal.must_change_password => Redirect::to("/console/").into_response(),
        Ok(_) => {
            viewer.principal.must_change_password = false;
            password_page(&viewer, None, true)
        }
        Err(rejection) => {
            let mut response = password_page(&viewer, Some(&rejection.1), false);
            *response.status_mut() = rejection.0;
            response
        }
    }
}

pub(super) async fn logout<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    remote: Option<Extension<RemoteAddr>>,
) -> Response {
    if let Some(digest) = &viewer.principal.session
        && let Err(error) = state.store.end_session(digest).await
    {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("storage error: {error}"));
    }
    let principal = &viewer.principal;
    super::super::access::record_change(
        &state,
        principal,
        source(remote),
        "POST /console/logout",
        "/console/logout",
        StatusCode::SEE_OTHER,
    )
    .await;
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, state.settings.secure_cookies));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_goes_back_only_to_console_pages_posted_from_here() {
        assert_eq!(next_page(Some("/console/devices?model=CP*")), "/console/devices?model=CP*");
        for elsewhere in
            ["https://evil.example/", "//evil.example", "/console//evil", "/api/users", "/console\\x"]
        {
            assert_eq!(next_page(Some(elsewhere)), "/console/", "{elsewhere}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:18080".parse().unwrap());
        assert!(same_origin(&headers), "no Origin: a browser that sends none, or not a browser");
        headers.insert(header::ORIGIN, "http://127.0.0.1:18080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
    }
}
