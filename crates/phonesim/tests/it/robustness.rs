//! How phones really behave on the network: keep-alive, slow networks, phones that vanish.

use std::time::Duration;

use opendls_phonesim::interaction::{Manner, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn keep_alive_and_slow_networks_work_like_connection_per_request() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    for (n, manner) in [
        Manner { keep_alive: true, ..Manner::default() },
        Manner { network_delay: Duration::from_millis(150), ..Manner::default() },
    ]
    .into_iter()
    .enumerate()
    {
        let mut phone = SimPhone::new(PhoneProfile::numbered(10 + n as u32));
        let first = phone.contact(Reason::StartUp, &[]);
        let done = run_interaction(&mut phone, &server.target(), first, &manner).await.unwrap();
        assert_eq!(done.steps.last().unwrap().0, "CleanUp");
        assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    }
}

#[tokio::test]
async fn a_phone_that_vanishes_mid_interaction_starts_afresh_next_time() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(20));
    let first = phone.contact(Reason::StartUp, &[]);
    let gone = run_interaction(
        &mut phone,
        &server.target(),
        first,
        &Manner { vanish_after: Some(1), ..Manner::default() },
    )
    .await
    .unwrap();
    assert!(gone.vanished);
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(done.steps.last().unwrap().0, "CleanUp");
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
}

/// Old firmware may offer only TLS 1.0/1.1 with RSA key exchange and CBC suites (docs/wpi-protocol.md
/// §2.7). The simulator's legacy mode offers exactly that: an OpenSSL server negotiates it.
#[tokio::test]
async fn legacy_tls_phones_offer_only_old_protocols() {
    use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let identity =
        opendls_pki::load_or_create_server_identity(dir.path(), &["127.0.0.1".into()], false).unwrap();
    let mut builder = SslAcceptor::mozilla_intermediate(SslMethod::tls_server()).unwrap();
    builder.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
    builder.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    builder.set_certificate(&openssl::x509::X509::from_pem(identity.cert_pem.as_bytes()).unwrap()).unwrap();
    builder
        .set_private_key(&openssl::pkey::PKey::private_key_from_pem(identity.key_pem.as_bytes()).unwrap())
        .unwrap();
    let acceptor = std::sync::Arc::new(builder.build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut stream).accept().await.unwrap();
        let negotiated =
            (stream.ssl().version_str().to_owned(), stream.ssl().current_cipher().unwrap().name().to_owned());
        let mut buffer = vec![0u8; 4096];
        let _ = stream.read(&mut buffer).await;
        let body = "<DLSMessage><Message nonce=\"x\"><Action>CleanUp</Action></Message></DLSMessage>";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
        let _ = stream.shutdown().await;
        negotiated
    });
    let tls = opendls_phonesim::transport::PhoneTls::legacy();
    let reply = opendls_phonesim::transport::post_wpi(addr, &tls, b"<x/>", None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let (version, cipher) = server.await.unwrap();
    assert!(version == "TLSv1" || version == "TLSv1.1", "{version}");
    assert!(cipher.starts_with("AES"), "static RSA key exchange with CBC: {cipher}");
}

/// A phone offering only TLS 1.0/1.1 with RSA key exchange and CBC (what V3-era firmware may
/// offer, docs/rust-stack.md §1.4) is served on the same port through opendls' OpenSSL path, and its
/// offer is recorded in the inventory.
#[tokio::test]
async fn legacy_tls_phones_are_served_through_the_openssl_path() {
    let server = Server::start().await;
    let mut target = server.target();
    target.tls = opendls_phonesim::transport::PhoneTls::legacy();
    let mut phone = SimPhone::new(PhoneProfile::numbered(40));
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &target, first, &Manner::default()).await.unwrap();
    assert_eq!(done.cleanup_reason, None);
    assert!(done.steps.iter().any(|(action, _)| action == "ReadAllItems"));
}
