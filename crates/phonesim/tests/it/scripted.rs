//! A scripted service for testing the simulator's own features (contact-me, DCMP, deployments,
//! restarts) before opendls offers them: a TLS listener that answers each phone message with the
//! next scripted action (echoing the phone's nonce), and serves files over the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opendls_wpi::{Action, DlsMessage, Item, WorkpointMessage, parse_workpoint_message, write_dls_message};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the scripted service answers to a phone message.
pub type Script = Box<dyn FnMut(&WorkpointMessage) -> (Action, Vec<Item>) + Send>;

pub struct ScriptedDls {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<WorkpointMessage>>>,
    pub downloads: Arc<Mutex<Vec<String>>>,
    /// The client certificate (DER) each phone message came with, if any.
    pub client_certificates: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    _dir: tempfile::TempDir,
}

impl ScriptedDls {
    /// A Default-Mode service: a self-signed certificate, no client authentication.
    pub async fn start(script: Script) -> ScriptedDls {
        let dir = tempfile::tempdir().unwrap();
        let identity =
            opendls_pki::load_or_create_server_identity(dir.path(), &["127.0.0.1".into()], false).unwrap();
        let certs = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        ScriptedDls::start_with(config, script, dir).await
    }

    /// A service with the given TLS configuration (e.g. mutual TLS for Secure Mode).
    pub async fn start_with(
        config: rustls::ServerConfig,
        script: Script,
        dir: tempfile::TempDir,
    ) -> ScriptedDls {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let downloads = Arc::new(Mutex::new(Vec::new()));
        let client_certificates = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let (seen, fetched, peers) = (received.clone(), downloads.clone(), client_certificates.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let Ok(mut tls) = acceptor.accept(tcp).await else { continue };
                let (seen, fetched, script, peers) =
                    (seen.clone(), fetched.clone(), script.clone(), peers.clone());
                tokio::spawn(async move {
                    let peer =
                        tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                    let Some((head, body)) = read_request(&mut tls).await else { return };
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let answer = if head.starts_with("GET ") {
                        fetched.lock().unwrap().push(path);
                        http(200, "application/octet-stream", b"RIFF....WAVEfmt simulated file")
                    } else {
                        let message = parse_workpoint_message(&body).unwrap();
                        let (action, items) = (script.lock().unwrap())(&message);
                        seen.lock().unwrap().push(message.clone());
                        peers.lock().unwrap().push(peer);
                        let reply = DlsMessage::with_items(message.nonce, action, items);
                        http(200, "text/xml", write_dls_message(&reply).as_bytes())
                    };
                    let _ = tls.write_all(&answer).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        ScriptedDls { addr, received, downloads, client_certificates, _dir: dir }
    }

    pub fn reasons(&self) -> Vec<String> {
        self.received.lock().unwrap().iter().map(|m| m.reason.reason.to_string()).collect()
    }
}

fn http(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let length = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while raw.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&chunk[..n]);
            }
            return Some((head, raw[end + 4..].to_vec()));
        }
    }
}

/// A plain-HTTP DCMP responder: 202 for the first `pending` polls, then 200 (p. 24).
pub async fn dcmp_responder(pending: usize) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let polls = Arc::new(Mutex::new(Vec::new()));
    let seen = polls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let Some((head, _)) = read_request(&mut tcp).await else { continue };
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let count = {
                let mut polls = seen.lock().unwrap();
                polls.push(path);
                polls.len()
            };
            let status = if count <= pending { 202 } else { 200 };
            let _ = tcp.write_all(&http(status, "text/plain", b"")).await;
        }
    });
    (addr, polls)
}
