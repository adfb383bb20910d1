//! Browser sessions through the admin API: login, the cookie, CSRF, logout, a one-time
//! password to change first, and throttled failures.

use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::support::{Reply, TestServer, exchange};

/// A request with `headers` (and a JSON body).
async fn call(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[String],
    body: Option<&Value>,
) -> Reply {
    let stream = TcpStream::connect(server.running().admin_addr).await.unwrap();
    let mut headers = headers.to_vec();
    if body.is_some() {
        headers.push("Content-Type: application/json".into());
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    exchange(stream, method, path, &headers, body.as_bytes()).await
}

/// Logs in; the cookie header to send back and the CSRF token.
async fn login(server: &TestServer, name: &str, password: &str) -> (String, String) {
    let reply =
        call(server, "POST", "/api/login", &[], Some(&json!({"name": name, "password": password}))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let set_cookie = reply.header("set-cookie").unwrap().to_owned();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = serde_json::from_str(&reply.text()).unwrap();
    (format!("Cookie: {pair}"), body["csrf_token"].as_str().unwrap().to_owned())
}

async fn add_user(server: &TestServer, name: &str, role: &str, password: Option<&str>) -> Value {
    let user = match password {
        Some(password) => json!({"name": name, "role": role, "password": password}),
        None => json!({"name": name, "role": role}),
    };
    server.admin_json("POST", "/api/users", Some(&user.to_string()), 201).await
}

#[tokio::test]
async fn a_session_reads_and_changes_only_with_its_csrf_token_until_logout() {
    let server = TestServer::start().await;
    add_user(&server, "otto", "operator", Some("otto-password-1")).await;

    let wrong =
        call(&server, "POST", "/api/login", &[], Some(&json!({"name": "otto", "password": "nope"}))).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    let unknown =
        call(&server, "POST", "/api/login", &[], Some(&json!({"name": "nobody", "password": "x"}))).await;
    assert_eq!(unknown.text(), wrong.text(), "an unknown name reads like a wrong password");

    let reply = call(
        &server,
        "POST",
        "/api/login",
        &[],
        Some(&json!({"name": "otto", "password": "otto-password-1"})),
    )
    .await;
    let set_cookie = reply.header("set-cookie").unwrap().to_owned();
    for part in ["opendls_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP on loopback: a Secure cookie would not come back");
    let (cookie, csrf) = login(&server, "otto", "otto-password-1").await;

    assert_eq!(call(&server, "GET", "/api/devices", std::slice::from_ref(&cookie), None).await.status, 200);
    let whoami: Value = serde_json::from_str(
        &call(&server, "GET", "/api/whoami", std::slice::from_ref(&cookie), None).await.text(),
    )
    .unwrap();
    assert_eq!((whoami["name"].as_str(), whoami["via"]["kind"].as_str()), (Some("otto"), Some("session")));
    let session: Value = serde_json::from_str(
        &call(&server, "GET", "/api/session", std::slice::from_ref(&cookie), None).await.text(),
    )
    .unwrap();
    assert_eq!(session["csrf_token"], csrf.as_str());

    let change = json!({"scope": "global", "name": "transaction-timer", "value": "5000"});
    let forged = call(&server, "PUT", "/api/config", std::slice::from_ref(&cookie), Some(&change)).await;
    assert_eq!(forged.status, 403, "no CSRF token: {}", forged.text());
    assert!(forged.text().contains("CSRF"));
    let other = [cookie.clone(), "X-CSRF-Token: 00ff".into()];
    assert_eq!(call(&server, "PUT", "/api/config", &other, Some(&change)).await.status, 403);
    let with_token = [cookie.clone(), format!("X-CSRF-Token: {csrf}")];
    assert_eq!(call(&server, "PUT", "/api/config", &with_token, Some(&change)).await.status, 200);
    let role = json!({"role": "admin"});
    assert_eq!(
        call(&server, "PUT", "/api/users/otto/role", &with_token, Some(&role)).await.status,
        403,
        "the role holds"
    );

    let entries = server.admin_json("GET", "/api/audit?actor=otto", None, 200).await;
    let statuses: Vec<(String, u64, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["status"].as_u64().unwrap(),
                e["via"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(statuses.contains(&("PUT /api/config".into(), 200, "session".into())), "{statuses:?}");
    assert!(statuses.contains(&("PUT /api/config".into(), 403, "session".into())), "the forged one too");
    assert!(statuses.contains(&("POST /api/session".into(), 401, "password".into())), "the failed login");

    let out = call(&server, "DELETE", "/api/session", &with_token, None).await;
    assert_eq!(out.status, 204, "{}", out.text());
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = call(&server, "GET", "/api/devices", std::slice::from_ref(&cookie), None).await;
    assert_eq!(after.status, 401, "logged out");
    assert!(after.header("set-cookie").unwrap().contains("Max-Age=0"), "the browser is told to forget it");
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_first_and_a_change_ends_other_sessions() {
    let server = TestServer::start().await;
    let made = add_user(&server, "vera", "viewer", None).await;
    let one_time = made["one_time_password"].as_str().unwrap().to_owned();
    let (cookie, csrf) = login(&server, "vera", &one_time).await;
    let (other_cookie, _) = login(&server, "vera", &one_time).await;

    let blocked = call(&server, "GET", "/api/devices", std::slice::from_ref(&cookie), None).await;
    assert_eq!(blocked.status, 403);
    assert!(blocked.text().contains("choose a new password first"), "{}", blocked.text());
    let headers = [cookie.clone(), format!("X-CSRF-Token: {csrf}")];
    let change = json!({"current": one_time, "password": "vera-chose-this-one"});
    let changed = call(&server, "PUT", "/api/users/vera/password", &headers, Some(&change)).await;
    assert_eq!(changed.status, 200, "{}", changed.text());

    assert_eq!(call(&server, "GET", "/api/devices", std::slice::from_ref(&cookie), None).await.status, 200);
    assert_eq!(
        call(&server, "GET", "/api/devices", std::slice::from_ref(&other_cookie), None).await.status,
        401,
        "the session opened with the old password ended"
    );
    let old =
        call(&server, "POST", "/api/login", &[], Some(&json!({"name": "vera", "password": one_time}))).await;
    assert_eq!(old.status, 401);
}

#[tokio::test]
async fn failed_logins_are_throttled_even_for_the_right_password() {
    let server = TestServer::start().await;
    add_user(&server, "ada", "admin", Some("ada-password-12")).await;
    for _ in 0..10 {
        let reply =
            call(&server, "POST", "/api/login", &[], Some(&json!({"name": "ada", "password": "guess"})))
                .await;
        assert_eq!(reply.status, 401);
    }
    let right = json!({"name": "ada", "password": "ada-password-12"});
    let throttled = call(&server, "POST", "/api/login", &[], Some(&right)).await;
    assert_eq!(throttled.status, 429, "{}", throttled.text());
    let wait: i64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let audit = server.admin_json("GET", "/api/audit?actor=ada", None, 200).await;
    assert_eq!(audit[0]["status"], 429, "the refused attempt is recorded");
}
