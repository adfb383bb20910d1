//! Hostile clients for testing a service's defences, on loopback only: slow clients that hold
//! connections by sending their bytes one at a time (slowloris). Not a phone: nothing here is
//! from the guide.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Slow clients that hold connections: each sends `payload` one byte at a time, a byte every
/// `pace`, and opens a new connection whenever the server closes one, from `source` (any
/// 127.0.0.0/8 address works on Linux loopback) until stopped. Bounded: it stops by itself
/// after `give_up`.
pub struct SlowClients {
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<u64>,
}

impl SlowClients {
    /// Opens `connections` slow connections to `target` (which must be a loopback address).
    pub async fn start(
        target: SocketAddr,
        source: IpAddr,
        connections: usize,
        payload: &'static [u8],
        pace: Duration,
    ) -> SlowClients {
        assert!(target.ip().is_loopback() && source.is_loopback(), "hostile clients stay on loopback");
        let stop = CancellationToken::new();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(90);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let stop = stop.clone();
            tasks.spawn(async move {
                let mut opened = 0u64;
                while !stop.is_cancelled() && tokio::time::Instant::now() < give_up {
                    opened += 1;
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = trickle(target, source, payload, pace) => {}
                    }
                }
                opened
            });
            // Open them at about 1,000 a second, as a hostile host would.
            tokio::time::sleep(Duration::from_micros(1000)).await;
        }
        SlowClients { stop, tasks }
    }

    /// Stops every connection; returns how many were opened in all.
    pub async fn stop(mut self) -> u64 {
        self.stop.cancel();
        let mut opened = 0;
        while let Some(count) = self.tasks.join_next().await {
            opened += count.unwrap_or(0);
        }
        opened
    }
}

async fn trickle(target: SocketAddr, source: IpAddr, payload: &[u8], pace: Duration) {
    use tokio::io::AsyncWriteExt;
    let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return };
    if socket.bind(SocketAddr::new(source, 0)).is_err() {
        return;
    }
    let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(2), socket.connect(target)).await
    else {
        tokio::time::sleep(pace).await;
        return;
    };
    for byte in payload.iter().cycle() {
        if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
            return;
        }
        tokio::time::sleep(pace).await;
    }
}

/// The start of a TLS ClientHello record announcing more bytes than will ever come.
pub const TRICKLED_CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x3f\xff\x01\x00\x3f\xfb\x03\x03";

/// The start of an HTTP request whose headers never end.
pub const TRICKLED_REQUEST: &[u8] =
    b"GET /dcmp/contact-me?device-id=00:1A:E8:00:00:01 HTTP/1.1\r\nHost: opendls\r\nX-Padding: aaaaaaaaaaaaaaaa";

/// A client that starts interactions and never continues them: `per_second` start-ups (each
/// from `start_up(n)`, usually with a fresh MAC) from `source`, until stopped or `give_up`.
pub struct StalledStartUps {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<StalledReport>,
}

/// What the stalling client saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StalledReport {
    /// Start-ups sent.
    pub sent: u64,
    /// Start-ups that were admitted (answered with something other than `overload`).
    pub admitted: u64,
}

impl StalledStartUps {
    /// Starts sending to `target` (a loopback address).
    pub fn start(
        target: SocketAddr,
        source: IpAddr,
        per_second: u32,
        start_up: impl Fn(u64) -> Vec<u8> + Send + 'static,
    ) -> StalledStartUps {
        assert!(target.ip().is_loopback() && source.is_loopback(), "hostile clients stay on loopback");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
            let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
            let mut sending = tokio::task::JoinSet::new();
            let mut report = StalledReport::default();
            while !token.is_cancelled() && tokio::time::Instant::now() < give_up {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let body = start_up(report.sent);
                report.sent += 1;
                sending.spawn(async move { post_from(source, target, &body).await });
                while let Some(done) = sending.try_join_next() {
                    report.admitted += u64::from(matches!(done, Ok(true)));
                }
            }
            while let Some(done) = sending.join_next().await {
                report.admitted += u64::from(matches!(done, Ok(true)));
            }
            report
        });
        StalledStartUps { stop, task }
    }

    /// Stops sending and reports.
    pub async fn stop(self) -> StalledReport {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// POSTs one message over TLS from `source`; whether it was answered with anything but
/// `overload`.
async fn post_from(source: IpAddr, target: SocketAddr, body: &[u8]) -> bool {
    let attempt = async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::new(source, 0)).ok()?;
        let tcp = socket.connect(target).await.ok()?;
        let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
        let connector = tokio_rustls::TlsConnector::from(crate::transport::default_mode_client());
        let tls = connector.connect(name, tcp).await.ok()?;
        let headers = ["Content-Type: text/xml".to_owned()];
        let reply = crate::transport::request(tls, "POST", "/DeploymentService/LoginService", &headers, body)
            .await
            .ok()?;
        Some(!String::from_utf8_lossy(&reply.body).contains("overload"))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt).await.ok().flatten().unwrap_or(false)
}
