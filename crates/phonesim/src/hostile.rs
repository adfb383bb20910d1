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
