//! The web console over HTTP, as a browser without JavaScript uses it: the login page, a session
//! cookie, pages that escape what phones report, forms with the CSRF token, roles.

use serde_json::json;
use tokio::net::TcpStream;

use crate::support::{Reply, TestServer, exchange, phone_post, start_up};

async fn get(server: &TestServer, path: &str, cookie: Option<&str>) -> Reply {
    let stream = TcpStream::connect(server.running().admin_addr).await.unwrap();
    let headers: Vec<String> = cookie.map(|c| format!("Cookie: {c}")).into_iter().collect();
    exchange(stream, "GET", path, &headers, b"").await
}

async fn post_form(server: &TestServer, path: &str, cookie: Option<&str>, form: &str) -> Reply {
    let stream = TcpStream::connect(server.running().admin_addr).await.unwrap();
    let mut headers = vec!["Content-Type: application/x-www-form-urlencoded".to_owned()];
    headers.extend(cookie.map(|c| format!("Cookie: {c}")));
    exchange(stream, "POST", path, &headers, form.as_bytes()).await
}

/// Logs in through the form; the cookie (`opendls_session=…`).
async fn log_in(server: &TestServer, name: &str, password: &str) -> String {
    let reply = post_form(
        server,
        "/console/login",
        None,
        &format!("name={name}&password={password}&next=/console/devices"),
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    assert_eq!(reply.header("location"), Some("/console/devices"));
    reply.header("set-cookie").unwrap().split(';').next().unwrap().to_owned()
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a form with the CSRF token") + marker.len();
    page[start..start + 64].to_owned()
}

async fn add_user(server: &TestServer, name: &str, role: &str, password: Option<&str>) -> serde_json::Value {
    let mut user = json!({"name": name, "role": role});
    if let Some(password) = password {
        user["password"] = json!(password);
    }
    server.admin_json("POST", "/api/users", Some(&user.to_string()), 201).await
}

#[tokio::test]
async fn an_admin_logs_in_finds_a_device_reads_the_audit_log_and_logs_out() {
    let server = TestServer::start().await;
    add_user(&server, "ada", "admin", Some("ada-password-12")).await;
    // Two phones; one reports a number with markup in it, which the pages must show as text.
    phone_post(server.phone_addr(), start_up("00:1A:E8:00:00:01").as_bytes(), None).await;
    let marked = start_up("00:1A:E8:00:00:02").replace(">49897223290<", ">&lt;b&gt;3002&lt;/b&gt;<");
    phone_post(server.phone_addr(), marked.as_bytes(), None).await;

    let away = get(&server, "/console/devices?model=OpenStage", None).await;
    assert_eq!(away.status, 303);
    assert_eq!(away.header("location"), Some("/console/login?next=%2Fconsole%2Fdevices"));
    let login = get(&server, "/console/login", None).await;
    assert_eq!(login.status, 200);
    assert!(login.text().contains("<form") && login.text().contains("type=\"password\""));

    let wrong = post_form(&server, "/console/login", None, "name=ada&password=nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("wrong user name or password") && wrong.header("set-cookie").is_none());
    let cookie = log_in(&server, "ada", "ada-password-12").await;

    let dashboard = get(&server, "/console/", Some(&cookie)).await;
    assert_eq!(dashboard.status, 200);
    let text = dashboard.text();
    assert!(
        text.contains("Dashboard") && text.contains("OpenStage 60") && text.contains("Audit log"),
        "{text}"
    );

    let devices = get(&server, "/console/devices?model=OpenStage%206*", Some(&cookie)).await.text();
    assert!(devices.contains("00:1A:E8:00:00:01") || devices.contains("001AE8000001"), "{devices}");
    assert!(devices.contains("Devices 1–2 of 2"), "{devices}");
    assert!(
        devices.contains("&lt;b&gt;3002&lt;/b&gt;") && !devices.contains("<b>3002"),
        "escaped: {devices}"
    );
    let none = get(&server, "/console/devices?model=CP410", Some(&cookie)).await.text();
    assert!(none.contains("No device matches."));

    let mac = if devices.contains("001AE8000001") { "001AE8000001" } else { "00:1A:E8:00:00:01" };
    let device = get(&server, &format!("/console/devices/{mac}"), Some(&cookie)).await;
    assert_eq!(device.status, 200);
    assert!(device.text().contains("History") && device.text().contains("OpenStage 60"));
    assert_eq!(get(&server, "/console/devices/nonsense", Some(&cookie)).await.status, 400);

    let audit = get(&server, "/console/audit?actor=ada", Some(&cookie)).await.text();
    assert!(
        audit.contains("POST /api/session") && audit.contains("401"),
        "the failed login is listed: {audit}"
    );

    let csrf = csrf_of(&dashboard.text());
    let forged = post_form(&server, "/console/logout", Some(&cookie), "csrf=0000").await;
    assert_eq!(forged.status, 403, "no valid CSRF token");
    let out = post_form(&server, "/console/logout", Some(&cookie), &format!("csrf={csrf}")).await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        get(&server, "/console/", Some(&cookie)).await.status,
        303,
        "logged out: back to the login page"
    );
}

#[tokio::test]
async fn a_viewer_sees_no_audit_log_and_a_one_time_password_is_changed_first() {
    let server = TestServer::start().await;
    let made = add_user(&server, "vera", "viewer", None).await;
    let one_time = made["one_time_password"].as_str().unwrap().to_owned();
    let cookie = log_in(&server, "vera", &one_time).await;

    let forced = get(&server, "/console/devices", Some(&cookie)).await;
    assert_eq!((forced.status, forced.header("location")), (303, Some("/console/password")));
    let form = get(&server, "/console/password", Some(&cookie)).await.text();
    assert!(form.contains("choose your own"), "{form}");
    let csrf = csrf_of(&form);
    let short = post_form(
        &server,
        "/console/password",
        Some(&cookie),
        &format!("csrf={csrf}&current={one_time}&password=short"),
    )
    .await;
    assert_eq!(short.status, 422);
    assert!(short.text().contains("too short"));
    let changed = post_form(
        &server,
        "/console/password",
        Some(&cookie),
        &format!("csrf={csrf}&current={one_time}&password=vera-chose-this-one"),
    )
    .await;
    assert_eq!((changed.status, changed.header("location")), (303, Some("/console/")));

    let dashboard = get(&server, "/console/", Some(&cookie)).await.text();
    assert!(!dashboard.contains("Audit log"), "no link to what a viewer may not see");
    // A viewer's change is refused even with a valid CSRF token (the form is not even shown).
    let csrf = csrf_of(&dashboard);
    let refused = post_form(
        &server,
        "/console/devices/001AE8000001/config",
        Some(&cookie),
        &format!("csrf={csrf}&name=transaction-timer&value=5000"),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("needs the operator role"), "{}", refused.text());
    let audit = get(&server, "/console/audit", Some(&cookie)).await;
    assert_eq!(audit.status, 403);
    assert!(audit.text().contains("needs the admin role"));
    let entries = server.admin_json("GET", "/api/audit?actor=vera", None, 200).await;
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "POST /console/password" && e["status"] == 200),
        "{entries}"
    );
}
