//! The admin API off loopback: HTTPS with the service's certificate, or plain HTTP only when
//! the administrator insists (`insecure_admin`). The listener binds every address; the tests
//! connect to 127.0.0.1 only.

use std::process::Command;

use opendls_server::Config;

fn serve(
    insecure_admin: bool,
) -> (tokio::runtime::Runtime, opendls_server::RunningServer, tempfile::TempDir) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        admin_listen: "0.0.0.0:0".parse().unwrap(),
        insecure_admin,
        ..Config::loopback(dir.path().join("data"))
    };
    let server = runtime.block_on(opendls_server::start(config)).unwrap();
    (runtime, server, dir)
}

fn device_list(url: &str, data_dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["device", "list"])
        .env("OPENDLS_ADMIN_URL", url)
        .env("OPENDLS_DATA", data_dir)
        .output()
        .unwrap()
}

#[test]
fn off_loopback_the_admin_api_is_served_over_tls() {
    let (_runtime, server, _dir) = serve(false);
    let port = server.admin_addr.port();
    assert_eq!(server.admin_url, format!("https://{}", server.admin_addr));
    let https = device_list(&format!("https://127.0.0.1:{port}"), &server.data_dir);
    assert!(https.status.success(), "{}", String::from_utf8_lossy(&https.stderr));
    let plain = device_list(&format!("http://127.0.0.1:{port}"), &server.data_dir);
    assert!(!plain.status.success(), "plain HTTP is not served off loopback");
}

#[test]
fn insecure_admin_serves_plain_http_off_loopback() {
    let (_runtime, server, _dir) = serve(true);
    assert!(server.admin_url.starts_with("http://"));
    let plain = device_list(&format!("http://127.0.0.1:{}", server.admin_addr.port()), &server.data_dir);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
}
