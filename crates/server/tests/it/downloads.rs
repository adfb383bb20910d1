//! The built-in file server, as phones use it: a URL per device and file with an expiring token,
//! over the phone ports' TLS stacks (legacy TLS too), whole or resumed with a Range request; every
//! misuse refused.

use opendls_phonesim::transport::{PhoneTls, connect_phone};
use serde_json::{Value, json};

use crate::support::{TestServer, exchange, on_postgres, phone_post, start_up};

const MAC: &str = "00:1A:E8:00:0F:01";

pub(crate) fn content() -> String {
    (0..40_000).map(|n| format!("{:07}\n", n)).collect()
}

/// Registers the phone, stores a ringtone, and returns its id.
pub(crate) async fn ringtone(server: &TestServer) -> i64 {
    phone_post(server.phone_addr(), start_up(MAC).as_bytes(), None).await.dls();
    let reply =
        server.admin("POST", "/api/files?kind=file&type=RINGTONE&name=ring.wav", Some(&content())).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let stored: Value = serde_json::from_slice(&reply.body).unwrap();
    stored["id"].as_i64().unwrap()
}

pub(crate) async fn url_for(server: &TestServer, id: i64, mac: &str) -> String {
    let body = json!({ "mac": mac, "valid_secs": 600 }).to_string();
    let answer = server.admin_json("POST", &format!("/api/files/{id}/url"), Some(&body), 200).await;
    let url = answer["url"].as_str().unwrap().to_owned();
    let base = format!("https://127.0.0.1:{}", server.running().file_addr.unwrap().port());
    url.strip_prefix(&base).unwrap_or_else(|| panic!("{url} is not on {base}")).to_owned()
}

pub(crate) async fn get(
    server: &TestServer,
    tls: &PhoneTls,
    path: &str,
    headers: &[String],
) -> crate::support::Reply {
    let stream = connect_phone(server.running().file_addr.unwrap(), tls).await.unwrap();
    exchange(stream, "GET", path, headers, b"").await
}

#[tokio::test]
async fn a_phone_downloads_its_file_whole_or_resumed_over_either_tls_stack() {
    let server = TestServer::start().await;
    let id = ringtone(&server).await;
    let path = url_for(&server, id, MAC).await;
    let whole = get(&server, &PhoneTls::modern(), &path, &[]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-length"), Some(content().len().to_string().as_str()));
    assert_eq!(whole.body, content().as_bytes());
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));

    // A phone resuming after 100000 bytes.
    let rest = get(&server, &PhoneTls::legacy(), &path, &["Range: bytes=100000-".to_owned()]).await;
    assert_eq!(rest.status, 206, "legacy TLS serves downloads too");
    let size = content().len();
    assert_eq!(rest.header("content-range"), Some(format!("bytes 100000-{}/{size}", size - 1).as_str()));
    assert_eq!(rest.body, &content().as_bytes()[100_000..]);
    let beyond = get(&server, &PhoneTls::modern(), &path, &[format!("Range: bytes={size}-")]).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some(format!("bytes */{size}").as_str()));
}

#[tokio::test]
async fn misused_tokens_and_unknown_files_are_refused() {
    let server = TestServer::start().await;
    let id = ringtone(&server).await;
    let path = url_for(&server, id, MAC).await;
    let tls = PhoneTls::modern();

    // The path is /files/{id}/{device}/{expires}/{token}/{name}.
    let segments: Vec<&str> = path.split('/').collect();
    let with = |at: usize, value: &str| {
        let mut changed = segments.clone();
        changed[at] = value;
        changed.join("/")
    };
    assert_eq!(segments[3], MAC.replace(':', ""), "{path}");
    // Another device's MAC in a valid URL: the token does not fit.
    assert_eq!(get(&server, &tls, &with(3, "001AE8000F02"), &[]).await.status, 403);
    // The same token for another file number.
    assert_eq!(get(&server, &tls, &with(2, &(id + 1).to_string()), &[]).await.status, 404);
    // An expiry moved into the future: the token no longer fits.
    let later = (segments[4].parse::<i64>().unwrap() + 3600).to_string();
    assert_eq!(get(&server, &tls, &with(4, &later), &[]).await.status, 403);
    // Another token, no token at all, and a path outside the store.
    assert_eq!(get(&server, &tls, &with(5, &"0".repeat(64)), &[]).await.status, 403);
    assert_eq!(get(&server, &tls, &format!("/files/{id}/ring.wav"), &[]).await.status, 404);
    let traversal =
        format!("/files/{id}/{}/{}/{}/..%2F..%2Fopendls.db", segments[3], segments[4], segments[5]);
    assert_eq!(get(&server, &tls, &traversal, &[]).await.status, 404);
    assert_eq!(get(&server, &tls, "/files/1/..%2F..%2Fopendls.db", &[]).await.status, 404);
    assert_eq!(get(&server, &tls, "/opendls.db", &[]).await.status, 404);
    // The right URL still works.
    assert_eq!(get(&server, &tls, &path, &[]).await.status, 200);

    // URLs are only made for known devices.
    let unknown = json!({ "mac": "00:1A:E8:00:0F:09" }).to_string();
    let refused = server.admin("POST", &format!("/api/files/{id}/url"), Some(&unknown)).await;
    assert_eq!(refused.status, 404, "{}", refused.text());
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = TestServer::start().await;
    let id = ringtone(&server).await;
    // Made with the service's own key, expired a second ago.
    let secret =
        std::fs::read_to_string(server.running().data_dir.join(opendls_server::file_server::TOKEN_KEY_FILE));
    let key = opendls_server::file_server::TokenKey::new(secret.unwrap().trim().as_bytes());
    let stored = server.admin_json("GET", &format!("/api/files/{id}"), None, 200).await;
    let grant = opendls_server::file_server::Grant {
        mac: MAC.into(),
        file_id: id,
        sha256: stored["sha256"].as_str().unwrap().into(),
        expires_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            as i64
            - 1,
    };
    let path = opendls_server::file_server::download_path(&key, &grant, "ring.wav");
    let reply = get(&server, &PhoneTls::modern(), &path, &[]).await;
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("expired"), "{}", reply.text());
}

#[tokio::test]
async fn without_a_reachable_public_address_no_url_is_made() {
    let server = TestServer::start_with(|config| config.public_address = None).await;
    let id = ringtone(&server).await;
    let body = json!({ "mac": MAC }).to_string();
    let refused = server.admin("POST", &format!("/api/files/{id}/url"), Some(&body)).await;
    assert_eq!(refused.status, 409);
    assert!(refused.text().contains("set public_address"), "{}", refused.text());
}

/// A site's own FTP server: phones are given its items (guide p. 53, 57) with the password from
/// its file, and the built-in file server is not needed.
#[tokio::test]
async fn an_external_ftp_server_is_handed_to_phones_with_its_password_from_a_file() {
    let secret_dir = tempfile::tempdir().unwrap();
    let password_file = secret_dir.path().join("ftp-password");
    std::fs::write(&password_file, "dlsftp5\n").unwrap();
    let server = TestServer::start_with(|config| {
        config.file_listen = None;
        config.external_files.ftp_server = Some("192.0.2.150".into());
        config.external_files.ftp_username = Some("dls".into());
        config.external_files.ftp_path = Some("/media".into());
        config.external_files.ftp_password_file = Some(password_file.clone());
    })
    .await;
    let id = ringtone(&server).await;
    let request = json!({"kind": "deploy-file", "files": [id.to_string()], "contact_me": false,
        "targets": {"by": "devices", "macs": [MAC]}});
    server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    // The phone calls in again and is read in full; the deployment follows.
    let first = phone_post(server.phone_addr(), start_up(MAC).as_bytes(), None).await;
    assert_eq!(first.dls().action, opendls_wpi::Action::ReadAllItems);
    let items = crate::support::inventory(MAC, &[]);
    let items: Vec<(&str, &str)> = items.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let read = crate::support::reply_to("ReadAllItems", "accepted", "final", "0A0B", &items);
    let reply = phone_post(server.phone_addr(), read.as_bytes(), first.session().as_deref()).await.dls();
    assert_eq!(reply.action, opendls_wpi::Action::FileDeployment, "{reply:?}");
    let value = |name: &str| reply.items.iter().find(|i| i.name == name).map(|i| i.value.as_str());
    assert_eq!(value("file-server"), Some("192.0.2.150"));
    assert_eq!(value("file-port"), Some("21"));
    assert_eq!(value("file-username"), Some("dls"));
    assert_eq!(value("file-pwd"), Some("dlsftp5"));
    assert_eq!(value("file-path"), Some("/media"));
    assert_eq!(value("file-name"), Some("ring.wav"));
    assert_eq!(value("file-type"), Some("RINGTONE"));
    // The password is in no answer of the admin API.
    let job = server.admin("GET", "/api/jobs/1", None).await.text();
    let device = server.admin("GET", &format!("/api/devices/{MAC}?history=100"), None).await.text();
    assert!(!job.contains("dlsftp5") && !device.contains("dlsftp5"));
}

/// Where nodes share a PostgreSQL database, a file uploaded to one node is served by every
/// node: one that never received it fetches the content from the database at its first
/// download, checks it against its name and keeps it; content a node held before the nodes
/// shared (`opendls migrate`) is given to the database at the node's next start; removing the
/// file forgets the database's copy. On SQLite (one node) nothing is kept beside the data
/// directory: a content missing there stays missing.
#[tokio::test]
async fn a_file_uploaded_to_one_node_is_served_by_every_node() {
    let mut first = TestServer::start().await;
    let id = ringtone(&first).await;
    let file = first.admin_json("GET", &format!("/api/files/{id}"), None, 200).await;
    let sha256 = file["sha256"].as_str().unwrap().to_owned();
    let held = |server: &TestServer| server.config().data_dir.join("files/sha256").join(&sha256);
    if !on_postgres() {
        std::fs::remove_file(held(&first)).unwrap();
        let path = url_for(&first, id, MAC).await;
        assert_eq!(get(&first, &PhoneTls::modern(), &path, &[]).await.status, 404);
        return;
    }
    let url = first.config().database.url.clone();
    let database = {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    };
    let kept = async |database: &tokio_postgres::Client| -> i64 {
        database.query_one("SELECT count(*) FROM kept_contents", &[]).await.unwrap().get(0)
    };
    assert_eq!(kept(&database).await, 1, "the upload was given to the database");

    // Content held before the nodes shared a database: given to it when the node starts again.
    database.execute("DELETE FROM kept_contents", &[]).await.unwrap();
    first.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while kept(&database).await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(kept(&database).await, 1, "the restarted node shared what it holds");

    let mut second = TestServer::start_with(|config| config.database.url = url.clone()).await;
    assert!(!held(&second).exists());
    let path = url_for(&second, id, MAC).await;
    let whole = get(&second, &PhoneTls::modern(), &path, &[]).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    assert_eq!(whole.body, content().as_bytes());
    assert!(held(&second).exists(), "the fetched content is kept for the next downloads");
    let rest = get(&second, &PhoneTls::modern(), &path, &["Range: bytes=100000-".to_owned()]).await;
    assert_eq!(rest.body, &content().as_bytes()[100_000..]);

    // A kept copy that does not match its name is never served.
    std::fs::remove_file(held(&second)).unwrap();
    database.execute("UPDATE content_chunks SET data = 'not the ringtone'", &[]).await.unwrap();
    assert_eq!(get(&second, &PhoneTls::modern(), &path, &[]).await.status, 404);
    assert!(!held(&second).exists());

    // The second node holds a copy again, and a content the database never knew.
    std::fs::write(held(&second), content()).unwrap();
    let unknown = second.config().data_dir.join("files/sha256").join("cd".repeat(32));
    std::fs::write(&unknown, b"held before this node shared a database").unwrap();
    let removed = first.admin("DELETE", &format!("/api/files/{id}"), None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(kept(&database).await, 0, "the last file naming it is gone: so is the kept copy");
    assert!(!held(&first).exists(), "the removing node deletes its copy at once");
    // The other node deletes its copy when it tidies (at start, then hourly), and nothing else.
    second.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while held(&second).exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!held(&second).exists(), "a content removed on another node is deleted here");
    assert!(unknown.exists(), "a content the database does not list as removed is kept");
}
