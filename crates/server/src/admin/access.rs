//! Who is asking and what they may do: every protected request is signed in (the break-glass
//! admin token, a personal API token), checked against the role its route needs, and, when it
//! changes something, recorded in the audit log with its answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opendls_engine::Role;
use opendls_store::{AuditStore, NewAuditEntry, Store};

use super::sessions::{CSRF_HEADER, csrf_matches, session_secret};
use super::{AdminState, constant_time_eq, failure, presented_token};
use crate::accounts::{TOKEN_PREFIX, token_digest};
use crate::api::SignedIn;

/// The name the audit log gives the admin token of the data directory.
pub const BREAK_GLASS: &str = "break-glass";

/// The largest request document recorded in the audit log; a bigger one is recorded by size.
const MAX_RECORDED_BYTES: usize = 64 * 1024;

/// The address a request came from, put into its extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

/// Who a request acts for, put into its extensions once it is signed in.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The account, or [`BREAK_GLASS`].
    pub(crate) name: String,
    /// What it may do.
    pub(crate) role: Role,
    /// How it signed in.
    pub(crate) via: SignedIn,
    /// The session's digest, when signed in with one.
    pub(crate) session: Option<String>,
    /// When the session ends.
    pub(crate) session_expires_at: Option<opendls_engine::Timestamp>,
    /// The account must choose a new password before anything else (sessions only: a token
    /// was made by someone who could already act).
    pub(crate) must_change_password: bool,
}

impl Principal {
    /// Whether this is the break-glass token (no account).
    pub(crate) fn is_break_glass(&self) -> bool {
        self.via == SignedIn::BreakGlass
    }

    fn via_text(&self) -> String {
        match &self.via {
            SignedIn::BreakGlass => "break-glass token".into(),
            SignedIn::Token { id } => format!("token {id}"),
            SignedIn::Session => "session".into(),
        }
    }
}

/// What a change replaced and made, attached to its answer by the handler for the audit log.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuditDetail {
    pub(crate) before: Option<serde_json::Value>,
    pub(crate) after: Option<serde_json::Value>,
}

/// `response` with what the change replaced and made, for the audit log.
pub(crate) fn audited(
    mut response: Response,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Response {
    response.extensions_mut().insert(AuditDetail { before, after });
    response
}

/// The role a route needs. Reading needs `viewer`, except what only admins see (accounts, the
/// audit log, PINs, the CA and the secure port's certificate); changing needs `operator`, except
/// Secure Mode, PINs and accounts (`admin`); one's own tokens and password need only `viewer`
/// (the handlers check that they are one's own).
pub(crate) fn required_role(method: &Method, route: &str) -> Role {
    let reads = matches!(*method, Method::GET | Method::HEAD);
    let admin_only = route.starts_with("/api/users")
        || route.starts_with("/api/audit")
        || route == "/api/security/ca"
        || route == "/api/security/server-certificate"
        || route.ends_with("/pin");
    let secure_mode = route.starts_with("/api/security/") || route.starts_with("/api/devices/{mac}/security");
    let own =
        route.starts_with("/api/tokens") || route == "/api/users/{name}/password" || route == "/api/whoami";
    if own {
        Role::Viewer
    } else if admin_only || (!reads && secure_mode) {
        Role::Admin
    } else if reads {
        Role::Viewer
    } else {
        Role::Operator
    }
}

/// Signs a request in, checks its role, and records it when it changes something.
pub(super) async fn guard<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match sign_in(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(refusal) => return refusal,
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(String::new, |p| p.as_str().to_owned());
    let method = request.method().clone();
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let needed = required_role(&method, &route);
    let mut record = changes.then(|| Record::of(&request, &principal, &route));
    let mut refusal = if !principal.role.allows(needed) {
        Some(format!("{} ({}) may not do this: it needs the {needed} role", principal.name, principal.role))
    } else if principal.must_change_password && !MAY_BEFORE_NEW_PASSWORD.contains(&route.as_str()) {
        Some(format!("choose a new password first (PUT /api/users/{}/password)", principal.name))
    } else {
        None
    };
    if refusal.is_none() && changes && principal.session.is_some() {
        request = match csrf_checked(request).await {
            Ok(checked) => checked,
            Err(unchecked) => {
                refusal = Some("missing or wrong CSRF token (X-CSRF-Token, or the form's csrf field)".into());
                unchecked
            }
        };
    }
    if let Some(message) = refusal {
        let refused = failure(StatusCode::FORBIDDEN, message).into_response();
        if let Some(record) = record {
            record.finish(&state, refused.status(), None).await;
        }
        return refused;
    }
    if let Some(record) = &mut record {
        request = record.read_document(request).await;
    }
    request.extensions_mut().insert(principal);
    let response = next.run(request).await;
    if let Some(record) = record {
        let detail = response.extensions().get::<AuditDetail>().cloned();
        record.finish(&state, response.status(), detail).await;
    }
    response
}

/// What a session that must choose a new password may still do.
const MAY_BEFORE_NEW_PASSWORD: [&str; 3] = ["/api/users/{name}/password", "/api/session", "/api/whoami"];

/// Checks a session's change for its CSRF token; the request back either way.
pub(super) async fn csrf_checked(request: Request) -> Result<Request, Request> {
    let Some(secret) = session_secret(request.headers()).map(str::to_owned) else { return Err(request) };
    if request.headers().contains_key(CSRF_HEADER) {
        return if csrf_matches(&secret, request.headers(), None) { Ok(request) } else { Err(request) };
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(request);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_RECORDED_BYTES).await else {
        return Err(Request::from_parts(parts, axum::body::Body::empty()));
    };
    let matches = csrf_matches(&secret, &parts.headers, Some(&bytes));
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    if matches { Ok(request) } else { Err(request) }
}

/// The break-glass token, a personal token that is known and unexpired, or (without an
/// `Authorization` header) a session cookie.
async fn sign_in<S: Store>(
    state: &AdminState<S>,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, Response> {
    let presented = presented_token(headers);
    let principal = |name, role, via| Principal {
        name,
        role,
        via,
        session: None,
        session_expires_at: None,
        must_change_password: false,
    };
    if constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
        return Ok(principal(BREAK_GLASS.into(), Role::Admin, SignedIn::BreakGlass));
    }
    let refused = |hint: &str| failure(StatusCode::UNAUTHORIZED, hint).into_response();
    let now = crate::phone::unix_now();
    if presented.is_empty()
        && let Some(secret) = session_secret(headers)
    {
        return match super::sessions::session_principal(&*state.store, secret).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => {
                Err(super::sessions::ended(state.settings.secure_cookies, "the session ended: log in again"))
            }
            Err(error) => Err(super::Rejection::from(error).into_response()),
        };
    }
    if presented.starts_with(TOKEN_PREFIX) {
        return match state.store.use_token(&token_digest(presented), now).await {
            Ok(Some((token, account))) => {
                Ok(principal(account.name, account.role, SignedIn::Token { id: token.id }))
            }
            Ok(None) => Err(refused("unknown, revoked or expired API token")),
            Err(error) => Err(super::Rejection::from(error).into_response()),
        };
    }
    Err(refused(
        "missing or wrong bearer token (a personal API token, or admin-token in the data directory), or no session",
    ))
}

/// Records a change made outside the API's routes (a console form) in the audit log.
pub(super) async fn record_change<S: AuditStore>(
    state: &AdminState<S>,
    principal: &Principal,
    source: Option<std::net::IpAddr>,
    action: &str,
    target: &str,
    status: StatusCode,
) {
    record_change_with(state, principal, source, (action, target, status), AuditDetail::default()).await;
}

/// [`record_change`] with what the change replaced and made.
pub(super) async fn record_change_with<S: AuditStore>(
    state: &AdminState<S>,
    principal: &Principal,
    source: Option<std::net::IpAddr>,
    (action, target, status): (&str, &str, StatusCode),
    detail: AuditDetail,
) {
    let entry =
        audit_entry(&principal.name, principal.via_text(), source, action.to_owned(), target.to_owned());
    record(state, entry, status, detail).await;
}

/// An audit entry's who, how, from where and what; `at`, `status` and the documents are filled
/// in by [`record`].
pub(super) fn audit_entry(
    actor: &str,
    via: String,
    source: Option<std::net::IpAddr>,
    action: String,
    target: String,
) -> NewAuditEntry {
    NewAuditEntry {
        at: 0,
        actor: actor.to_owned(),
        via,
        source: source.map_or_else(String::new, |ip| ip.to_string()),
        action,
        target,
        status: 0,
        request: None,
        before: None,
        after: None,
    }
}

/// Records `entry` as answered now with `status`, with `detail`'s documents masked. A failure is
/// logged: the change is made; only the record of it failed.
pub(super) async fn record<S: AuditStore>(
    state: &AdminState<S>,
    mut entry: NewAuditEntry,
    status: StatusCode,
    detail: AuditDetail,
) {
    entry.at = crate::phone::unix_now();
    entry.status = status.as_u16();
    let AuditDetail { mut before, mut after } = detail;
    for document in [&mut before, &mut after].into_iter().flatten() {
        super::masking::mask_secrets(document);
    }
    (entry.before, entry.after) = (before, after);
    let (actor, action) = (entry.actor.clone(), entry.action.clone());
    if let Err(error) = state.store.record_audit(entry).await {
        tracing::error!(%error, %actor, %action, "could not record a change in the audit log");
    }
}

/// An audit entry in the making.
struct Record {
    entry: NewAuditEntry,
}

impl Record {
    fn of(request: &Request, principal: &Principal, route: &str) -> Record {
        let source = request.extensions().get::<RemoteAddr>().map(|r| r.0.ip());
        let target = request.uri().path_and_query().map_or_else(String::new, |p| p.as_str().to_owned());
        let route = if route.is_empty() { request.uri().path() } else { route };
        let action = format!("{} {route}", request.method());
        Record { entry: audit_entry(&principal.name, principal.via_text(), source, action, target) }
    }

    /// Reads a JSON document small enough to record, masks its secrets into the entry, and
    /// gives the request its body back. Other bodies (uploads, large imports) pass unread and
    /// are recorded by type and size.
    async fn read_document(&mut self, request: Request) -> Request {
        let headers = request.headers();
        let declared =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let json = kind.starts_with("application/json");
        match declared {
            Some(0) | None if !json => return request,
            Some(size) if json && size <= MAX_RECORDED_BYTES => {}
            size => {
                let size = size.map_or_else(|| "unknown".into(), |s| s.to_string());
                self.entry.request = Some(serde_json::json!({ "content_type": kind, "bytes": size }));
                return request;
            }
        }
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_RECORDED_BYTES).await {
            Ok(bytes) => bytes,
            // The body broke off or was longer than declared: the handler sees the same.
            Err(_) => return Request::from_parts(parts, axum::body::Body::empty()),
        };
        self.entry.request = Some(match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut document) => {
                super::masking::mask_secrets(&mut document);
                document
            }
            Err(_) => serde_json::json!({ "unreadable_json_bytes": bytes.len() }),
        });
        Request::from_parts(parts, axum::body::Body::from(bytes))
    }

    async fn finish<S: AuditStore>(
        self,
        state: &AdminState<S>,
        status: StatusCode,
        detail: Option<AuditDetail>,
    ) {
        record(state, self.entry, status, detail.unwrap_or_default()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_role_the_issue_gives_them() {
        let cases = [
            (Method::GET, "/api/devices", Role::Viewer),
            (Method::GET, "/api/devices/{mac}/security", Role::Viewer),
            (Method::GET, "/api/config/diff", Role::Viewer),
            (Method::PUT, "/api/config", Role::Operator),
            (Method::POST, "/api/jobs", Role::Operator),
            (Method::PUT, "/api/devices/{mac}/group", Role::Operator),
            (Method::POST, "/api/files/{id}/url", Role::Operator),
            (Method::PUT, "/api/security/mode", Role::Admin),
            (Method::POST, "/api/devices/{mac}/security/revoke", Role::Admin),
            (Method::GET, "/api/security/ca", Role::Admin),
            (Method::GET, "/api/groups/{name}/pin", Role::Admin),
            (Method::POST, "/api/devices/{mac}/pin", Role::Admin),
            (Method::GET, "/api/users", Role::Admin),
            (Method::DELETE, "/api/users/{name}", Role::Admin),
            (Method::GET, "/api/audit", Role::Admin),
            (Method::PUT, "/api/users/{name}/password", Role::Viewer),
            (Method::POST, "/api/tokens", Role::Viewer),
            (Method::GET, "/api/whoami", Role::Viewer),
        ];
        for (method, route, role) in cases {
            assert_eq!(required_role(&method, route), role, "{method} {route}");
        }
    }
}
