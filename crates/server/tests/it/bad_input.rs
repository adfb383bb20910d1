//! Malformed, oversized and hostile bodies get a readable CleanUp; the server keeps serving.

use opendls_wpi::Action;

use crate::support::*;

fn cleanup_reason(reply: &Reply) -> String {
    let message = reply.dls();
    assert_eq!(message.action, Action::CleanUp);
    message.items.iter().find(|i| i.name == "cleanup-reason").map(|i| i.value.clone()).unwrap_or_default()
}

#[tokio::test]
async fn hostile_bodies_are_answered_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let addr = server.phone_addr();
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}",
        start_up("00:1A:E8:00:00:09")
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"<WorkpointMessage><Message nonce=\"X1\"><broken".to_vec(), "malformed message"),
        (b"not xml at all".to_vec(), "malformed message"),
        (laughs.into_bytes(), "document type declarations are not allowed"),
        (b"<WorkpointMessage><Message><ReasonForContact>start-up</ReasonForContact></Message></WorkpointMessage>".to_vec(), "Message has no nonce"),
        (vec![0xff, 0xfe, 0x00, 0x41], "not valid UTF-8"),
        (start_up("00:1A:E8:00:00:10").replace("start-up", "teleport").into_bytes(), "unsupported reason for contact"),
        (start_up("00:1A:E8:00:00:11").replace("00:1A:E8:00:00:11", "nonsense").into_bytes(), "no valid mac-addr"),
        (guide("p48-reply-write-items-accepted.xml").into_bytes(), "reply-to without an interaction in progress"),
    ];
    for (body, expected) in cases {
        let reply = phone_post(addr, &body, None).await;
        let reason = cleanup_reason(&reply);
        assert!(reason.contains(expected), "expected {expected:?} in {reason:?}");
    }
    // The nonce is salvaged even from a broken body.
    let broken = phone_post(addr, b"<WorkpointMessage><Message nonce=\"X1\"><broken", None).await;
    assert_eq!(broken.dls().nonce, "X1");

    // Still serving.
    assert_eq!(
        phone_post(addr, start_up("00:1A:E8:00:00:99").as_bytes(), None).await.dls().action,
        Action::ReadAllItems
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_reading_them_all() {
    let server = TestServer::start().await;
    let mut body = start_up("00:1A:E8:00:00:20").into_bytes();
    body.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    let reply = phone_post(server.phone_addr(), &body, None).await;
    assert!(cleanup_reason(&reply).contains("larger than"));
    assert_eq!(
        phone_post(server.phone_addr(), start_up("00:1A:E8:00:00:21").as_bytes(), None).await.dls().action,
        Action::ReadAllItems
    );
}

#[tokio::test]
async fn other_methods_get_405() {
    let server = TestServer::start().await;
    let tls = tls_connect(server.phone_addr()).await;
    let reply = exchange(tls, "GET", "/DeploymentService/LoginService", &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn any_post_path_reaches_the_endpoint() {
    let server = TestServer::start().await;
    let tls = tls_connect(server.phone_addr()).await;
    let body = start_up("00:1A:E8:00:00:30");
    let reply =
        exchange(tls, "POST", "/provisioningService", &["Content-Type: text/xml".into()], body.as_bytes())
            .await;
    assert_eq!(reply.dls().action, Action::ReadAllItems);
}

#[tokio::test]
async fn a_phone_that_vanishes_mid_request_does_not_disturb_others() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await;
    let mut tls = tls_connect(server.phone_addr()).await;
    tls.write_all(b"POST /DeploymentService/LoginService HTTP/1.1\r\nContent-Length: 5000\r\n\r\n<Workpoint")
        .await
        .unwrap();
    drop(tls);
    let raw = tokio::net::TcpStream::connect(server.phone_addr()).await.unwrap();
    drop(raw);
    assert_eq!(
        phone_post(server.phone_addr(), start_up("00:1A:E8:00:00:40").as_bytes(), None).await.dls().action,
        Action::ReadAllItems
    );
}

/// Phones that do not return the cookie are matched by address when unambiguous.
#[tokio::test]
async fn replies_without_cookie_are_matched_by_address() {
    let server = TestServer::start().await;
    phone_post(server.phone_addr(), start_up("00:1A:E8:00:00:50").as_bytes(), None).await.dls();
    let read = reply_with("ReadAllItems", "R1", "final", &inventory("00:1A:E8:00:00:50", &[]));
    let done = phone_post(server.phone_addr(), read.as_bytes(), None).await.dls();
    assert_eq!(done.action, Action::CleanUp);
    assert!(done.items.is_empty(), "not a protocol error: {:?}", done.items);
}
