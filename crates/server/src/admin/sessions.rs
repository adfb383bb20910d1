//! Browser sessions: log in with a name and password (`POST /api/session`), a cookie that is
//! `HttpOnly`, `SameSite=Strict` and, on HTTPS, `Secure`; every change made through a session
//! carries its CSRF token; sessions end after 30 minutes unused, after 12 hours, at logout, and
//! when the password changes. Failed logins are throttled per address and per name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use opendls_engine::Timestamp;
use opendls_store::{AccountStore, AuditStore, NewSession};

use super::access::{AuditDetail, Principal, RemoteAddr, audit_entry, record};
use super::body::ApiJson;
use super::{AdminState, Answer, failure};
use crate::accounts::{hash_password, token_digest, verify_password};
use crate::api::{Login, SessionView};
use crate::phone::unix_now;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "opendls_session";
/// A session ends this long after login, however busy (seconds).
pub const SESSION_MAX_SECS: i64 = 12 * 3600;
/// A session ends after this long unused (seconds).
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Failed logins from one address, or for one name, within [`THROTTLE_WINDOW_SECS`] before
/// further attempts are refused until the oldest failure leaves the window.
pub const MAX_FAILED_LOGINS: usize = 10;
/// The window failed logins are counted in (seconds).
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Addresses and names whose failures are remembered at once (the oldest are forgotten first).
const MAX_THROTTLED_KEYS: usize = 10_000;
/// The header a change made through a session carries its CSRF token in (forms: the `csrf`
/// field).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from its secret, so nothing more is stored and a page
/// can show it while the cookie stays out of reach of scripts.
pub(crate) fn csrf_token(secret: &str) -> String {
    token_digest(&format!("opendls csrf\0{secret}"))
}

/// The session cookie's secret, if the request carries one.
pub(crate) fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then_some(value)
        })
    })
}

/// Who a session cookie's `secret` signs in, while its session lives (its use is noted).
pub(crate) async fn session_principal<S: AccountStore>(
    store: &S,
    secret: &str,
) -> Result<Option<Principal>, opendls_store::StoreError> {
    let digest = token_digest(secret);
    let Some(session) = store.use_session(&digest, unix_now(), SESSION_IDLE_SECS).await? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        name: session.account.name,
        role: session.account.role,
        via: crate::api::SignedIn::Session,
        session: Some(digest),
        session_expires_at: Some(session.expires_at),
        must_change_password: session.account.must_change_password,
    }))
}

/// Failed logins per address and per name, in this node's memory (several nodes each count
/// their own: a load balancer spreading one attacker over N nodes gives N times the attempts).
#[derive(Default)]
pub(crate) struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

impl LoginThrottle {
    /// Seconds to wait before the next attempt, when any of `keys` has too many failures.
    fn wait(&self, keys: &[String], now: Timestamp) -> Option<i64> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.iter()
            .filter_map(|key| {
                let times = failures.get_mut(key)?;
                times.retain(|at| *at + THROTTLE_WINDOW_SECS > now);
                (times.len() >= MAX_FAILED_LOGINS).then(|| times[0] + THROTTLE_WINDOW_SECS - now)
            })
            .max()
    }

    fn failed(&self, keys: &[String], now: Timestamp) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_THROTTLED_KEYS {
            failures.retain(|_, times| times.iter().any(|at| *at + THROTTLE_WINDOW_SECS > now));
            if failures.len() >= MAX_THROTTLED_KEYS {
                failures.clear();
            }
        }
        for key in keys {
            failures.entry(key.clone()).or_default().push(now);
        }
    }
}

/// A session just opened: the cookie to set and what the API answers.
pub(super) struct Opened {
    /// The `Set-Cookie` header value.
    pub(super) cookie: HeaderValue,
    /// The session as the API shows it.
    pub(super) view: SessionView,
}

/// Why a login opened no session.
pub(super) enum LoginRefused {
    /// Too many failures lately: seconds to wait.
    Throttled(i64),
    /// A wrong name or password (never which).
    Wrong,
    /// The store failed.
    Failed(super::Rejection),
}

impl From<opendls_store::StoreError> for LoginRefused {
    fn from(error: opendls_store::StoreError) -> Self {
        LoginRefused::Failed(error.into())
    }
}

impl LoginRefused {
    /// The API's answer.
    pub(super) fn into_response(self) -> Response {
        match self {
            LoginRefused::Throttled(wait) => {
                let mut refused =
                    failure(StatusCode::TOO_MANY_REQUESTS, throttled_message(wait)).into_response();
                refused.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
                refused
            }
            LoginRefused::Wrong => failure(StatusCode::UNAUTHORIZED, WRONG_LOGIN).into_response(),
            LoginRefused::Failed(rejection) => rejection.into_response(),
        }
    }
}

/// What a wrong name or password is told.
pub(super) const WRONG_LOGIN: &str = "wrong user name or password";

/// What a throttled login is told.
pub(super) fn throttled_message(wait: i64) -> String {
    format!("too many failed logins: try again in {} minutes", (wait + 59) / 60)
}

/// `POST /api/login`: checks the name and password and opens a session.
pub(super) async fn login<S: AccountStore + AuditStore>(
    State(state): State<Arc<AdminState<S>>>,
    remote: Option<Extension<RemoteAddr>>,
    ApiJson(request): ApiJson<Login>,
) -> Response {
    let source = remote.map(|Extension(RemoteAddr(addr))| addr.ip());
    match open_session(&state, request, source).await {
        Ok(opened) => {
            let mut response = Json(opened.view).into_response();
            response.headers_mut().insert(header::SET_COOKIE, opened.cookie);
            response
        }
        Err(refused) => refused.into_response(),
    }
}

/// Checks a login and opens a session, for the API and the console alike: throttled failures,
/// the same answer and cost for an unknown name as for a wrong password, every attempt audited.
pub(super) async fn open_session<S: AccountStore + AuditStore>(
    state: &AdminState<S>,
    request: Login,
    source: Option<IpAddr>,
) -> Result<Opened, LoginRefused> {
    let now = unix_now();
    let name: String = request.name.trim().chars().take(64).collect();
    let keys =
        [format!("address {}", source.map_or_else(String::new, |ip| ip.to_string())), format!("name {name}")];
    if let Some(wait) = state.throttle.wait(&keys, now) {
        record_login(state, &name, source, StatusCode::TOO_MANY_REQUESTS).await;
        return Err(LoginRefused::Throttled(wait));
    }
    let found = state.store.account(&name).await?;
    let password = request.password;
    let hash = found.as_ref().map(|f| f.password_hash.clone());
    // argon2 is CPU work of tens of milliseconds: off the runtime's threads. An unknown name
    // costs the same as a wrong password, so timing does not tell which names exist.
    let matches = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let _ = verify_password(&password, &hash_password("no such account"));
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(found) = found.filter(|_| matches) else {
        state.throttle.failed(&keys, now);
        record_login(state, &name, source, StatusCode::UNAUTHORIZED).await;
        tracing::info!(user = name, source = ?source, "failed login");
        return Err(LoginRefused::Wrong);
    };
    let secret = crate::accounts::issue_token().token;
    let session = NewSession {
        digest: token_digest(&secret),
        account: found.account.name.clone(),
        expires_at: now + SESSION_MAX_SECS,
        source: source.map_or_else(String::new, |ip| ip.to_string()),
    };
    if !state.store.add_session(session, now).await? {
        return Err(LoginRefused::Wrong);
    }
    record_login(state, &name, source, StatusCode::OK).await;
    let view = SessionView {
        user: super::users::user_view(found.account),
        csrf_token: csrf_token(&secret),
        expires_at: now + SESSION_MAX_SECS,
        idle_timeout_secs: SESSION_IDLE_SECS,
    };
    Ok(Opened { cookie: cookie(&secret, SESSION_MAX_SECS, state.settings.secure_cookies), view })
}

/// The `Set-Cookie` value of a session (`max_age` 0 ends it in the browser).
pub(super) fn cookie(secret: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("a session cookie is ASCII")
}

/// Logins are changes of who is signed in: each attempt goes into the audit log.
async fn record_login<S: AuditStore>(
    state: &AdminState<S>,
    name: &str,
    source: Option<IpAddr>,
    status: StatusCode,
) {
    let entry =
        audit_entry(name, "password".into(), source, "POST /api/session".into(), "/api/session".into());
    record(state, entry, status, AuditDetail::default()).await;
}

/// `GET /api/session`: the session a request came with, and its CSRF token.
pub(super) async fn show<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
) -> Answer {
    let (Some(secret), true) = (session_secret(&headers), principal.session.is_some()) else {
        return Err(failure(StatusCode::NOT_FOUND, "this request is not signed in with a session"));
    };
    let found = state.store.account(&principal.name).await?;
    let Some(found) = found else { return Err(failure(StatusCode::NOT_FOUND, "the account is gone")) };
    let expires_at = principal.session_expires_at.unwrap_or_default();
    Ok(Json(SessionView {
        user: super::users::user_view(found.account),
        csrf_token: csrf_token(secret),
        expires_at,
        idle_timeout_secs: SESSION_IDLE_SECS,
    })
    .into_response())
}

/// `DELETE /api/session`: logout.
pub(super) async fn logout<S: AccountStore>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(principal): Extension<Principal>,
) -> Answer {
    let Some(digest) = &principal.session else {
        return Err(failure(StatusCode::NOT_FOUND, "this request is not signed in with a session"));
    };
    state.store.end_session(digest).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, state.settings.secure_cookies));
    Ok(response)
}

/// Whether a change made through a session carries the session's CSRF token (the header, or
/// the `csrf` field of a form).
pub(crate) fn csrf_matches(secret: &str, headers: &HeaderMap, form: Option<&[u8]>) -> bool {
    let expected = csrf_token(secret);
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        let form = std::str::from_utf8(form?).ok()?;
        form.split('&').find_map(|pair| pair.strip_prefix("csrf=").map(str::to_owned))
    });
    given.is_some_and(|given| super::constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// The response a session whose browser must forget it gets.
pub(crate) fn ended(secure: bool, why: &str) -> Response {
    let mut response = failure(StatusCode::UNAUTHORIZED, why).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0, secure));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_csrf_is_checked() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; opendls_session=abc123; x=1"));
        assert_eq!(session_secret(&headers), Some("abc123"));
        assert!(!csrf_matches("abc123", &headers, None), "no token given");
        let token = csrf_token("abc123");
        assert!(csrf_matches("abc123", &headers, Some(format!("group=sales&csrf={token}").as_bytes())));
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&token).unwrap());
        assert!(csrf_matches("abc123", &headers, None));
        assert!(!csrf_matches("other", &headers, None), "another session's token");
        let cookie = cookie("s", 60, true);
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=60", "Path=/"] {
            assert!(cookie.to_str().unwrap().contains(part), "{part}");
        }
    }

    #[test]
    fn failed_logins_are_throttled_per_key_for_the_window() {
        let throttle = LoginThrottle::default();
        let keys = ["address 192.0.2.1".to_owned(), "name ada".to_owned()];
        for at in 0..MAX_FAILED_LOGINS as i64 {
            assert_eq!(throttle.wait(&keys, 100 + at), None);
            throttle.failed(&keys, 100 + at);
        }
        assert_eq!(throttle.wait(&keys, 200), Some(100 + THROTTLE_WINDOW_SECS - 200));
        let other = ["address 192.0.2.2".to_owned(), "name ada".to_owned()];
        assert!(throttle.wait(&other, 200).is_some(), "the name is throttled from any address");
        assert_eq!(
            throttle.wait(&keys, 100 + THROTTLE_WINDOW_SECS),
            None,
            "the first failure left the window"
        );
    }
}
