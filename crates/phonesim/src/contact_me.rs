//! The phone's doors for contact-me: its plain-HTTP listener (port 8085 on a real phone,
//! guide p. 12) and, when asked for, its web interface over HTTPS. Both answer `204 No Content`
//! (p. 15) and share one contact gap.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::live::{Behaviour, Event, LiveStats};

/// What the phone does with a contact-me, whichever door it came through.
pub(crate) struct ContactMeDoor {
    events: mpsc::Sender<Event>,
    behaviour: Behaviour,
    stats: Arc<LiveStats>,
    last_answered: Mutex<Option<Instant>>,
}

impl ContactMeDoor {
    pub(crate) fn new(events: mpsc::Sender<Event>, behaviour: Behaviour, stats: Arc<LiveStats>) -> Self {
        ContactMeDoor { events, behaviour, stats, last_answered: Mutex::new(None) }
    }

    /// Serves one listener until stopped; with `tls`, as the HTTPS web interface.
    pub(crate) async fn listen(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        stop: CancellationToken,
    ) {
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted { Ok(accepted) => accepted, Err(_) => continue },
            };
            let request = match &tls {
                None => read_contact_me(stream).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => read_contact_me(stream).await,
                    Err(_) => None,
                },
            };
            if let Some(request) = request {
                self.knocked(request, tls.is_some()).await;
            }
        }
    }

    /// Calls back unless the contact gap since the last answered request has not passed.
    async fn knocked(&self, request: ContactMeRequest, over_https: bool) {
        if !request.contact_me {
            return;
        }
        let stats = &self.stats;
        if request.by_get {
            stats.contact_me_by_get.fetch_add(1, Ordering::Relaxed);
        }
        if over_https {
            stats.contact_me_over_https.fetch_add(1, Ordering::Relaxed);
        }
        if request.callback.is_some() {
            stats.contact_me_with_callback.fetch_add(1, Ordering::Relaxed);
        }
        {
            let mut last = self.last_answered.lock().expect("not poisoned");
            if last.is_some_and(|at| at.elapsed() < self.behaviour.contact_gap) {
                stats.contact_me_ignored.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(Instant::now());
        }
        stats.contact_me_accepted.fetch_add(1, Ordering::Relaxed);
        let callback =
            request.callback.filter(|addr| self.behaviour.allow_remote_callback || addr.ip().is_loopback());
        let _ = self.events.send(Event::ContactMe(callback)).await;
    }
}

struct ContactMeRequest {
    contact_me: bool,
    by_get: bool,
    callback: Option<SocketAddr>,
}

/// Reads one contact-me request (POST form or GET query, docs/wpi-protocol.md §2.5) and answers it.
async fn read_contact_me<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Option<ContactMeRequest> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (head_end, length) = loop {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > 16 * 1024 {
            return None;
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length.min(4096));
        }
    };
    while raw.len() < head_end + length {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let body = String::from_utf8_lossy(&raw[head_end..]).into_owned();
    let by_get = head.starts_with("GET ");
    let target = head.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let form = if body.is_empty() { query.to_owned() } else { body };
    let field = |name: &str| {
        form.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let valid = target.starts_with("/contact_dls.html/ContactDLS");
    let answer: &[u8] = if valid {
        b"HTTP/1.1 204 No Content\r\nServer: DlsClient\r\nContent-Length: 0\r\nContent-type: text/html\r\nConnection: close\r\n\r\n"
    } else {
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    };
    let _ = stream.write_all(answer).await;
    let _ = stream.shutdown().await;
    if !valid {
        return None;
    }
    let callback = match (field("dls_ip_addr"), field("dls_ip_port")) {
        (Some(addr), Some(port)) => {
            addr.parse::<IpAddr>().ok().zip(port.parse::<u16>().ok()).map(SocketAddr::from)
        }
        _ => None,
    };
    Some(ContactMeRequest { contact_me: field("ContactMe").as_deref() == Some("true"), by_get, callback })
}

/// TLS for the web interface, with a self-signed certificate made at start, as a phone's own
/// web interface has until a service deploys one (guide p. 60).
pub(crate) fn web_interface_acceptor() -> std::io::Result<tokio_rustls::TlsAcceptor> {
    let other = |e: String| std::io::Error::other(e);
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).map_err(|e| other(e.to_string()))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| other(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
