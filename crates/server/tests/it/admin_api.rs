//! The admin API: authentication, validation against the catalog, scopes and groups.

use crate::support::*;

#[tokio::test]
async fn the_token_is_required() {
    let server = TestServer::start().await;
    let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
    let reply = exchange(stream, "GET", "/api/devices", &[], b"").await;
    assert_eq!(reply.status, 401);
    let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
    let reply = exchange(stream, "GET", "/api/devices", &["Authorization: Bearer wrong".into()], b"").await;
    assert_eq!(reply.status, 401);
    let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
    assert_eq!(exchange(stream, "GET", "/api/health", &[], b"").await.status, 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let token = server.running().data_dir.join(opendls_server::ADMIN_TOKEN_FILE);
        assert_eq!(std::fs::metadata(token).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// A body the API cannot read is refused as `{"error": …}`, like every other refusal.
#[tokio::test]
async fn unreadable_bodies_are_refused_as_api_errors() {
    let server = TestServer::start().await;
    let cases = [
        ("POST", "/api/jobs", "{not json", 400, "as JSON"),
        (
            "POST",
            "/api/jobs",
            r#"{"kind":"restart","targets":{"by":"everyone"}}"#,
            422,
            "unknown variant `everyone`",
        ),
        ("PUT", "/api/policy", r#"{"group":null}"#, 422, "missing field `policy`"),
    ];
    for (method, path, body, status, says) in cases {
        let reply = server.admin(method, path, Some(body)).await;
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"), "{path} {body}");
        let error: opendls_api::ApiError = serde_json::from_slice(&reply.body).unwrap();
        assert!(error.error.contains(says), "{path} {body}: {}", error.error);
    }
    // Not declared JSON at all.
    let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
    let token = format!("Authorization: Bearer {}", server.running().admin_token);
    let reply = exchange(stream, "POST", "/api/jobs", &[token], b"{}").await;
    assert_eq!(reply.status, 415, "{}", reply.text());
    assert!(serde_json::from_slice::<opendls_api::ApiError>(&reply.body).is_ok(), "{}", reply.text());
}

#[tokio::test]
async fn values_are_checked_against_the_catalog() {
    let server = TestServer::start().await;
    let refused = server
        .admin("PUT", "/api/config", Some(r#"{"scope":"global","name":"transaction-timer","value":"5"}"#))
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.text().contains("between 3700 and 32000"), "{}", refused.text());
    let read_only = server
        .admin(
            "PUT",
            "/api/config",
            Some(r#"{"scope":"global","name":"device-type","value":"OpenStage 80"}"#),
        )
        .await;
    assert_eq!(read_only.status, 422);
    let unknown =
        server.admin("PUT", "/api/config", Some(r#"{"scope":"global","name":"sntp-adr","value":"1"}"#)).await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.text().contains("did you mean sntp-addr?"), "{}", unknown.text());
    let insisted = r#"{"scope":"global","values":[{"name":"future-item","value":"1"}],"allow_unknown":true}"#;
    let unknown = server.admin("PUT", "/api/config", Some(insisted)).await;
    assert_eq!(unknown.status, 200);
    let result: opendls_api::ConfigChangeResult = serde_json::from_slice(&unknown.body).unwrap();
    assert!(result.applied && !result.values[0].known_item && !result.values[0].warnings.is_empty());
    let bad_scope = server
        .admin("PUT", "/api/config", Some(r#"{"scope":"device","target":"nope","name":"e164","value":"1"}"#))
        .await;
    assert_eq!(bad_scope.status, 400);
}

#[tokio::test]
async fn device_beats_group_beats_global() {
    let server = TestServer::start().await;
    let mac = "00:1A:E8:00:01:01";
    phone_post(server.phone_addr(), start_up(mac).as_bytes(), None).await.dls();
    let assign =
        server.admin("PUT", &format!("/api/devices/{mac}/group"), Some(r#"{"group":"sales"}"#)).await;
    assert_eq!(assign.status, 204);
    for (scope, target, value) in [
        ("global", None, "global.example"),
        ("group", Some("sales"), "group.example"),
        ("device", Some(mac), "device.example"),
    ] {
        let target = target.map(|t| format!(r#","target":"{t}""#)).unwrap_or_default();
        let body = format!(r#"{{"scope":"{scope}"{target},"name":"sntp-addr","value":"{value}"}}"#);
        assert_eq!(server.admin("PUT", "/api/config", Some(&body)).await.status, 200);
    }
    let pending = |body: Vec<u8>| {
        let view: opendls_api::DeviceView = serde_json::from_slice(&body).unwrap();
        view.pending.iter().find(|p| p.name == "sntp-addr").map(|p| (p.desired.clone(), p.scope.clone()))
    };
    let view = server.admin("GET", &format!("/api/devices/{mac}"), None).await;
    assert_eq!(pending(view.body), Some(("device.example".into(), format!("device {mac}"))));
    let unset = format!(r#"{{"scope":"device","target":"{mac}","name":"sntp-addr"}}"#);
    assert_eq!(server.admin("DELETE", "/api/config", Some(&unset)).await.status, 204);
    assert_eq!(server.admin("DELETE", "/api/config", Some(&unset)).await.status, 404);
    let view = server.admin("GET", &format!("/api/devices/{mac}"), None).await;
    assert_eq!(pending(view.body), Some(("group.example".into(), "group sales".into())));

    let listing = server.admin("GET", "/api/config?scope=group&target=sales", None).await;
    let entries: Vec<opendls_api::ConfigEntry> = serde_json::from_slice(&listing.body).unwrap();
    assert_eq!(entries.len(), 1);
    let devices: Vec<opendls_api::DeviceListEntry> =
        serde_json::from_slice(&server.admin("GET", "/api/devices", None).await.body).unwrap();
    assert_eq!(devices[0].group.as_deref(), Some("sales"));
    assert_eq!(server.admin("GET", "/api/devices/00:00:00:00:00:00", None).await.status, 404);
}

#[tokio::test]
async fn a_change_says_how_many_devices_it_touches() {
    let server = TestServer::start().await;
    for mac in ["00:1A:E8:00:02:01", "00:1A:E8:00:02:02", "00:1A:E8:00:02:03"] {
        phone_post(server.phone_addr(), start_up(mac).as_bytes(), None).await.dls();
    }
    let assign = server.admin("PUT", "/api/devices/00:1A:E8:00:02:01/group", Some(r#"{"group":"sales"}"#));
    assert_eq!(assign.await.status, 204);
    let change = |scope: &str, value: &str, dry_run: bool| {
        format!(r#"{{{scope},"values":[{{"name":"sntp-addr","value":"{value}"}}],"dry_run":{dry_run}}}"#)
    };
    let count = |body: Vec<u8>| {
        let result: opendls_api::ConfigChangeResult = serde_json::from_slice(&body).unwrap();
        (result.applied, result.devices_affected)
    };
    let sales = r#""scope":"group","target":"sales""#;
    let dry = server.admin("PUT", "/api/config", Some(&change(sales, "s.example", true))).await;
    assert_eq!(count(dry.body), (false, 1));
    let set = server.admin("PUT", "/api/config", Some(&change(sales, "s.example", false))).await;
    assert_eq!(count(set.body), (true, 1));
    let global = r#""scope":"global""#;
    let dry = server.admin("PUT", "/api/config", Some(&change(global, "g.example", true))).await;
    assert_eq!(count(dry.body), (false, 2), "the sales phone keeps its group's value");
    let again = server.admin("PUT", "/api/config", Some(&change(sales, "s.example", true))).await;
    assert_eq!(count(again.body), (false, 0), "the same value changes nothing");
    let bad_group = server.admin("PUT", "/api/devices/00:1A:E8:00:02:02/group", Some(r#"{"group":"a/b"}"#));
    assert_eq!(bad_group.await.status, 400);
}

#[tokio::test]
async fn policies_are_validated() {
    let server = TestServer::start().await;
    assert_eq!(
        server.admin("PUT", "/api/policy", Some(r#"{"group":null,"policy":"flag"}"#)).await.status,
        204
    );
    assert_eq!(
        server.admin("PUT", "/api/policy", Some(r#"{"group":"lab","policy":"accept"}"#)).await.status,
        204
    );
    let refused = server.admin("PUT", "/api/policy", Some(r#"{"policy":"whatever"}"#)).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("accept-unmanaged"), "the policies are named: {}", refused.text());
}

#[tokio::test]
async fn ready_needs_the_database_the_listeners_and_disk_space() {
    let server = TestServer::start().await;
    let ready = |server: &TestServer| {
        let addr = server.running().admin_addr;
        async move {
            // No token: load balancers and monitoring probe it.
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let reply = exchange(stream, "GET", "/api/ready", &[], b"").await;
            (reply.status, serde_json::from_str::<serde_json::Value>(&reply.text()).unwrap())
        }
    };
    let (status, report) = ready(&server).await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["ready"], true);
    let names: Vec<&str> =
        report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["database", "listeners", "disk"]);
    assert!(report["checks"][2]["detail"].as_str().unwrap().contains("MiB free of"), "{report:#}");

    // The database file deleted under the running service: its connections still answer, but
    // what they write is lost at the next start. Not ready.
    if crate::support::on_postgres() {
        return; // PostgreSQL's unreachable server: `ready_goes_false_when_postgres_is_unreachable`
    }
    let database = server.running().data_dir.join(opendls_server::DATABASE_FILE);
    std::fs::remove_file(&database).unwrap();
    let (status, report) = ready(&server).await;
    assert_eq!(status, 503, "{report:#}");
    assert_eq!(report["checks"][0]["ok"], false);
    assert!(report["checks"][0]["detail"].as_str().unwrap().contains("is gone"), "{report:#}");
}

/// On PostgreSQL: the service reaches its database through a relay this test owns; with the
/// relay gone, the database is unreachable and the service says it is not ready (then ready
/// again once the database is back).
#[tokio::test]
async fn ready_goes_false_when_postgres_is_unreachable() {
    if !crate::support::on_postgres() {
        return; // SQLite's case: `ready_needs_the_database_the_listeners_and_disk_space`
    }
    let url = std::env::var("OPENDLS_TEST_POSTGRES").unwrap();
    let (scoped, _schema) = opendls_store::postgres::testing::scratch_schema(&url).await;
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let target = tokio_postgres_target(&url);
    // Aborting the relay drops its set of connections, which ends every relayed connection.
    let relaying = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (mut inbound, _) = relay.accept().await.unwrap();
            let target = target.clone();
            connections.spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let through_relay = scoped.replacen(host_in(&url), &format!("127.0.0.1:{relay_port}"), 1);
    assert_ne!(through_relay, scoped, "the test server's address is host:port in its URL");
    let server = TestServer::start_with(|config| config.database.url = through_relay).await;
    let ready = || async {
        let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
        let reply = exchange(stream, "GET", "/api/ready", &[], b"").await;
        (reply.status, serde_json::from_str::<serde_json::Value>(&reply.text()).unwrap())
    };
    assert_eq!(ready().await.0, 200);
    relaying.abort();
    let _ = relaying.await;
    // The pool notices a closed connection when it next hands it out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let report = loop {
        let (status, report) = ready().await;
        if status == 503 {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "still ready without its database: {report:#}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(report["checks"][0]["name"], "database");
    assert_eq!(report["checks"][0]["ok"], false, "{report:#}");
}

/// The host (and port, if given) of a `postgres://user:password@host:port/db` address.
fn host_in(url: &str) -> &str {
    let after_at = url.rsplit_once('@').map_or(url.trim_start_matches("postgres://"), |(_, rest)| rest);
    after_at.split(['/', '?']).next().unwrap_or_default()
}

/// `host:port` to connect to for a `postgres://` address.
fn tokio_postgres_target(url: &str) -> String {
    let host = host_in(url);
    if host.contains(':') { host.to_owned() } else { format!("{host}:5432") }
}
