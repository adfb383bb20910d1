//! The web console: server-rendered pages (maud, escaped by construction) on the admin listener
//! under `/console`. Readable without JavaScript: every page is HTML and every action a form.
//! Pages sign in with the browser session of `sessions` (the login page opens one); every form
//! carries the session's CSRF token; what a page shows or changes goes through the same
//! functions the JSON API uses, with the same role rules.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use opendls_engine::Role;
use opendls_store::Store;

use super::AdminState;
use super::access::{Principal, RemoteAddr};
use super::sessions::{csrf_token, session_secret};

mod audit;
mod dashboard;
mod devices;
mod jobs;
mod login;

/// The stylesheet: small, no framework; a table scrolls sideways on a narrow screen.
const STYLE: &str = include_str!("console/style.css");

/// Who is looking at a page, and the token its forms carry.
#[derive(Clone)]
pub(super) struct Viewer {
    pub(super) principal: Principal,
    pub(super) csrf: String,
}

/// The console's routes.
pub(super) fn router<S: Store>(state: Arc<AdminState<S>>) -> Router {
    let signed_in = Router::new()
        .route("/console", get(dashboard::page::<S>))
        .route("/console/", get(dashboard::page::<S>))
        .route("/console/devices", get(devices::list::<S>))
        .route("/console/devices/{mac}", get(devices::show::<S>))
        .route("/console/devices/{mac}/config", axum::routing::post(devices::set_value::<S>))
        .route("/console/jobs/{id}", get(jobs::show::<S>))
        .route("/console/audit", get(audit::page::<S>))
        .route("/console/password", get(login::password_form).post(login::change_password::<S>))
        .route("/console/logout", axum::routing::post(login::logout::<S>))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::<S>))
        .with_state(state.clone());
    let open = Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console/login", get(login::form).post(login::submit::<S>))
        .route(
            "/console/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .with_state(state);
    open.merge(signed_in)
}

/// Signs a page in by its session; without one, the login page (coming back here after).
async fn guard<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let login =
        Redirect::to(&format!("/console/login?next={}", crate::admin::encode_query(&path))).into_response();
    let Some(secret) = session_secret(request.headers()).map(str::to_owned) else { return login };
    let principal = match super::sessions::session_principal(&*state.store, &secret).await {
        Ok(Some(principal)) => principal,
        Ok(None) => return login,
        Err(error) => {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("storage error: {error}"));
        }
    };
    if principal.must_change_password && path != "/console/password" && path != "/console/logout" {
        return Redirect::to("/console/password").into_response();
    }
    if request.method() == Method::POST {
        request = match super::access::csrf_checked(request).await {
            Ok(checked) => checked,
            Err(_) => {
                return error_page(
                    StatusCode::FORBIDDEN,
                    "This form has no valid CSRF token: reload the page and try again.",
                );
            }
        };
    }
    request.extensions_mut().insert(Viewer { principal, csrf: csrf_token(&secret) });
    next.run(request).await
}

/// The address a request came from.
pub(super) fn source(request_remote: Option<axum::Extension<RemoteAddr>>) -> Option<std::net::IpAddr> {
    request_remote.map(|axum::Extension(RemoteAddr(addr))| addr.ip())
}

/// A whole page: the navigation for `viewer` (none on the login page) around `body`.
pub(super) fn layout(title: &str, viewer: Option<&Viewer>, active: &str, body: Markup) -> Html<String> {
    layout_refreshed(title, viewer, active, body, None)
}

/// [`layout`] that reloads itself every `refresh` seconds (live progress without JavaScript).
pub(super) fn layout_refreshed(
    title: &str,
    viewer: Option<&Viewer>,
    active: &str,
    body: Markup,
    refresh: Option<u32>,
) -> Html<String> {
    let link = |href: &str, label: &str, name: &str| {
        html! { a href=(href) aria-current=[(active == name).then_some("page")] { (label) } }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                title { (title) " · opendls" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                header {
                    nav {
                        strong.brand { "opendls" }
                        @if let Some(viewer) = viewer {
                            (link("/console/", "Dashboard", "dashboard"))
                            (link("/console/devices", "Devices", "devices"))
                            @if viewer.principal.role == Role::Admin {
                                (link("/console/audit", "Audit log", "audit"))
                            }
                            span.who {
                                (viewer.principal.name) " (" (viewer.principal.role) ") "
                                a href="/console/password" { "Password" }
                                form.inline method="post" action="/console/logout" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    button type="submit" { "Log out" }
                                }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// An error as a page.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! { p.error { (message) } p { a href="/console/" { "Back to the dashboard" } } };
    (status, layout(status.canonical_reason().unwrap_or("Error"), None, "", body)).into_response()
}

/// A page only admins may see, for anyone else.
pub(super) fn admins_only(viewer: &Viewer) -> Option<Response> {
    (viewer.principal.role != Role::Admin).then(|| {
        let message = format!(
            "{} ({}) may not see this page: it needs the admin role",
            viewer.principal.name, viewer.principal.role
        );
        error_page(StatusCode::FORBIDDEN, &message)
    })
}

/// A form only operators and admins may send, for anyone else.
pub(super) fn operators_only(viewer: &Viewer) -> Option<Response> {
    (!viewer.principal.role.allows(Role::Operator)).then(|| {
        let message = format!(
            "{} ({}) may not change anything: it needs the operator role",
            viewer.principal.name, viewer.principal.role
        );
        error_page(StatusCode::FORBIDDEN, &message)
    })
}

/// A time as the console shows it: UTC, to the second.
pub(super) fn when(at: i64) -> String {
    opendls_engine::utc_text(at).replace('T', " ").replace('Z', " UTC")
}
