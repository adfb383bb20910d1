//! Behind a load balancer: the phone ports read the PROXY header (v1, v2) a trusted proxy sends
//! first, so the service sees each phone's own address; without one, a trusted proxy's
//! connection is closed.

use std::net::SocketAddr;

use opendls_phonesim::interaction::{Manner, Target, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::TestServer;

/// A TCP proxy on loopback that sends `header(client)` to the server, then relays both ways.
async fn proxy(server: SocketAddr, header: fn(SocketAddr) -> Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut phone, client)) = listener.accept().await {
            tokio::spawn(async move {
                let mut upstream = TcpStream::connect(server).await.unwrap();
                upstream.write_all(&header(client)).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut phone, &mut upstream).await;
            });
        }
    });
    addr
}

/// Every phone is said to come from 127.0.0.33 (loopback: nothing is ever sent there but to us).
fn v1(client: SocketAddr) -> Vec<u8> {
    format!("PROXY TCP4 127.0.0.33 127.0.0.1 {} 18443\r\n", client.port()).into_bytes()
}

fn v2(client: SocketAddr) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend([127, 0, 0, 34, 127, 0, 0, 1]);
    header.extend(client.port().to_be_bytes());
    header.extend(18443u16.to_be_bytes());
    header
}

async fn start_up(phone: &mut SimPhone, addr: SocketAddr) -> bool {
    let first = phone.contact(Reason::StartUp, &[]);
    run_interaction(phone, &Target::default_mode(addr), first, &Manner::default()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_behind_a_proxy_are_seen_at_their_own_address() {
    let server = TestServer::start_with(|config| config.trusted_proxies = vec!["127.0.0.1".into()]).await;
    for (n, header, expected) in [(1, v1 as fn(SocketAddr) -> Vec<u8>, "127.0.0.33"), (2, v2, "127.0.0.34")] {
        let through = proxy(server.phone_addr(), header).await;
        let mut phone = SimPhone::new(PhoneProfile::numbered(n));
        assert!(start_up(&mut phone, through).await, "served through the proxy");
        let mac = phone.profile.mac.clone();
        let device = server.admin_json("GET", &format!("/api/devices/{mac}"), None, 200).await;
        assert_eq!(device["device"]["remote_addr"], expected, "{device:#}");
    }
    // From a trusted proxy, a connection without a header is closed, never taken at face value.
    let mut phone = SimPhone::new(PhoneProfile::numbered(3));
    assert!(!start_up(&mut phone, server.phone_addr()).await, "no PROXY header: closed");
    let listed = server.admin_json("GET", "/api/devices", None, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn trusted_proxies_are_checked_when_the_service_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = opendls_server::Config::loopback(dir.path().to_owned());
    config.trusted_proxies = vec!["10.0.0.0/40".into()];
    let error = opendls_server::start(config).await.err().expect("refused");
    assert!(error.to_string().contains("trusted_proxies"), "{error}");
}
